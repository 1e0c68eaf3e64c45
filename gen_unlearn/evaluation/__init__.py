"""Evaluation: sampling, forgetting accuracy, FID (torch-fidelity and clean-fid, offline), grids, benchmarks."""

from ..sampling import make_grid, sample_generators, sample_images, save_png, save_samples
from .bench import BenchResult, bench
from .features import DEFAULT_RESIZE, INCEPTION_ENV, RESIZE_METHODS, InceptionNetwork, InceptionWeightsNotFoundError
from .fid import BACKENDS, compute_fid, register_torch_fidelity_extractor
from .grid import Grid, class_grid
from .report import EvaluationReport, ForgettingScores, evaluate, forgetting_scores

__all__ = [
    "BACKENDS",
    "DEFAULT_RESIZE",
    "INCEPTION_ENV",
    "RESIZE_METHODS",
    "BenchResult",
    "EvaluationReport",
    "ForgettingScores",
    "Grid",
    "InceptionNetwork",
    "InceptionWeightsNotFoundError",
    "bench",
    "class_grid",
    "compute_fid",
    "evaluate",
    "forgetting_scores",
    "make_grid",
    "register_torch_fidelity_extractor",
    "sample_generators",
    "sample_images",
    "save_png",
    "save_samples",
]
