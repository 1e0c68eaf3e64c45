"""The classification methods by name, their aliases, and their configs with overrides."""

from __future__ import annotations

from typing import Any

from ..settings import configured
from .bad_teacher import BadTeacher
from .base import ClassificationUnlearner
from .finetune import FineTune
from .gradient_ascent import GradientAscent
from .gradtau import GradTau
from .memorize_to_forget import MemorizeToForget
from .neggrad_plus import NegGradPlus
from .random_labels import RandomLabels
from .retrain import Retrain
from .salun import SalUn
from .scrub import SCRUB
from .sfron import SFROn

CLASSIFICATION_METHODS: dict[str, type[ClassificationUnlearner]] = {
    cls.name: cls
    for cls in (
        NegGradPlus,
        GradTau,
        MemorizeToForget,
        SFROn,
        SalUn,
        SCRUB,
        BadTeacher,
        RandomLabels,
        GradientAscent,
        FineTune,
        Retrain,
    )
}
ALIASES = {
    "neggrad-plus": "neggrad+",
    "nabla-tau": "gradtau",
    "∇τ": "gradtau",
    "mox": "memorize-to-forget",
    "mtf": "memorize-to-forget",
    "sfr-on": "sfron",
    "bad_teacher": "bad-teacher",
    "random-labels": "rl",
    "gradient-ascent": "ga",
    "finetune": "ft",
    "fine-tune": "ft",
    "rt": "retrain",
}


def resolve_method(name: str) -> str:
    """The registry name of `name` (aliases allowed, case-insensitive)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in CLASSIFICATION_METHODS:
        raise ValueError(f"unknown classification method {name!r}: use one of {', '.join(CLASSIFICATION_METHODS)}")
    return key


def classification_method_config(method: str, **overrides: Any) -> Any:
    """The method's Config with `overrides` applied; unknown names are an error that lists the known ones."""
    cls = CLASSIFICATION_METHODS[resolve_method(method)]
    return configured(cls.Config, cls.name, overrides)
