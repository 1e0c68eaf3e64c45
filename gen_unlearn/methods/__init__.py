"""Generative unlearning methods, one per file, and their registry."""

from .base import GenerativeUnlearner, MethodConfig
from .baselines import FineTune, GradientAscent, Relabel
from .sa import SelectiveAmnesia
from .salun import SalUn
from .sfron import SFROn

METHODS: dict[str, type[GenerativeUnlearner]] = {
    cls.name: cls for cls in (SFROn, SalUn, SelectiveAmnesia, GradientAscent, Relabel, FineTune)
}

__all__ = [
    "METHODS",
    "FineTune",
    "GenerativeUnlearner",
    "GradientAscent",
    "MethodConfig",
    "Relabel",
    "SFROn",
    "SalUn",
    "SelectiveAmnesia",
]
