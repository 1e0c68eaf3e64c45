"""Relabelling: a class other than each label, the target of SalUn's and RL's forget terms."""

from __future__ import annotations

import torch


def other_class(labels: torch.Tensor, num_classes: int, mode: str = "next", generator: torch.Generator | None = None):
    """A class other than each label: (y + 1) mod K ("next", SalUn's reference) or uniformly random ("random")."""
    if mode == "next":
        return (labels + 1) % num_classes
    if mode == "random":
        offset = torch.randint(1, num_classes, labels.shape, generator=generator).to(labels.device)
        return (labels + offset) % num_classes
    raise ValueError(f"unknown relabel mode {mode!r}: use next or random")
