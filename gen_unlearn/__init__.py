"""gen_unlearn: make a pretrained class-conditional diffusion model forget a class."""

from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline, ClassConditionalPipeline

from .classification import CLASSIFICATION_METHODS, run_experiment, unlearn_classifier
from .classifier import SmallCNN, predict_proba
from .data import ForgetRemainSets, LabeledImages, class_split, load_dataset, random_subset_split
from .denoiser import Denoiser
from .erase import erase
from .evaluation import bench, class_grid, evaluate, sample_images
from .hub import load_classifier, load_pipeline, swap_scheduler
from .loop import TrainingConfig
from .methods import METHODS
from .replay import DataFreeConfig

__version__ = "0.1.0"

__all__ = [
    "CLASSIFICATION_METHODS",
    "METHODS",
    "ClassConditionalDDPMPipeline",
    "ClassConditionalDiTPipeline",
    "ClassConditionalPipeline",
    "DataFreeConfig",
    "Denoiser",
    "ForgetRemainSets",
    "LabeledImages",
    "SmallCNN",
    "TrainingConfig",
    "bench",
    "class_grid",
    "class_split",
    "erase",
    "evaluate",
    "load_classifier",
    "load_dataset",
    "load_pipeline",
    "predict_proba",
    "random_subset_split",
    "run_experiment",
    "sample_images",
    "swap_scheduler",
    "unlearn_classifier",
]
