"""gen_unlearn: make a pretrained class-conditional diffusion model forget a class.

The public names below are imported on first use (PEP 562), so `import gen_unlearn` and `gen-unlearn --help`
do not pay for torch, diffusers and the evaluation libraries until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ClassConditionalDDPMPipeline": "pipelines",
    "ClassConditionalDiTPipeline": "pipelines",
    "ClassConditionalPipeline": "pipelines",
    "CLASSIFICATION_METHODS": "gen_unlearn.classification",
    "run_experiment": "gen_unlearn.classification",
    "unlearn_classifier": "gen_unlearn.classification",
    "SmallCNN": "gen_unlearn.classifier",
    "predict_proba": "gen_unlearn.classifier",
    "ForgetRemainSets": "gen_unlearn.data",
    "LabeledImages": "gen_unlearn.data",
    "class_split": "gen_unlearn.data",
    "load_dataset": "gen_unlearn.data",
    "random_subset_split": "gen_unlearn.data",
    "DenoisingObjective": "gen_unlearn.denoiser",
    "erase": "gen_unlearn.erasure",
    "audit": "gen_unlearn.evaluation.audit",
    "write_report": "gen_unlearn.evaluation.html_report",
    "bench": "gen_unlearn.evaluation",
    "class_grid": "gen_unlearn.evaluation",
    "evaluate": "gen_unlearn.evaluation",
    "sample_images": "gen_unlearn.evaluation",
    "load_classifier": "gen_unlearn.hub",
    "load_pipeline": "gen_unlearn.hub",
    "swap_scheduler": "gen_unlearn.hub",
    "TrainingConfig": "gen_unlearn.loop",
    "METHODS": "gen_unlearn.methods",
    "DataFreeConfig": "gen_unlearn.replay",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gen_unlearn' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and IDEs see
    from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline, ClassConditionalPipeline  # noqa: F401

    from .classification import CLASSIFICATION_METHODS, run_experiment, unlearn_classifier  # noqa: F401
    from .classifier import SmallCNN, predict_proba  # noqa: F401
    from .data import ForgetRemainSets, LabeledImages, class_split, load_dataset, random_subset_split  # noqa: F401
    from .denoiser import DenoisingObjective  # noqa: F401
    from .erasure import erase  # noqa: F401
    from .evaluation import bench, class_grid, evaluate, sample_images  # noqa: F401
    from .evaluation.audit import audit  # noqa: F401
    from .evaluation.html_report import write_report  # noqa: F401
    from .hub import load_classifier, load_pipeline, swap_scheduler  # noqa: F401
    from .loop import TrainingConfig  # noqa: F401
    from .methods import METHODS  # noqa: F401
    from .replay import DataFreeConfig  # noqa: F401
