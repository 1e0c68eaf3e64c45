"""Classification-side unlearning: the same forget / remain API and metrics as the generative side, for classifiers.

One word for one thing: the remain set D_r is what the classification papers call the retain set (and RA
their retain accuracy); settings say `remain_*` here as on the generative side.

Methods (one file each): NegGrad+, ∇τ (gradtau), Memorize-to-Forget, SFR-on, SalUn, SCRUB, bad teacher,
RL, GA, FT and retrain; `CLASSIFICATION_METHODS` maps their names to their classes.
"""

from .base import ClassificationUnlearner, IterativeUnlearner, UnlearnConfig, UnlearningDivergedError, UnlearnResult
from .experiment import ClassificationExperiment, run_experiment, unlearn_classifier
from .metrics import average_gap, evaluate_classifier, membership_inference
from .models import build_classifier, resnet18_cifar, small_cnn
from .registry import CLASSIFICATION_METHODS, classification_method_config, resolve_method
from .splits import UnlearningSplits, load_splits, make_splits
from .training import TrainConfig, train_classifier

__all__ = [
    "CLASSIFICATION_METHODS",
    "ClassificationExperiment",
    "ClassificationUnlearner",
    "IterativeUnlearner",
    "TrainConfig",
    "UnlearnConfig",
    "UnlearnResult",
    "UnlearningDivergedError",
    "UnlearningSplits",
    "average_gap",
    "build_classifier",
    "classification_method_config",
    "evaluate_classifier",
    "load_splits",
    "make_splits",
    "membership_inference",
    "resnet18_cifar",
    "resolve_method",
    "run_experiment",
    "small_cnn",
    "train_classifier",
    "unlearn_classifier",
]
