"""Relabelling: a class other than each label, the target of SalUn's and RL's forget terms."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def other_class(
    labels: torch.Tensor,
    num_classes: int,
    mode: str = "next",
    generator: torch.Generator | None = None,
    exclude: Sequence[int] = (),
) -> torch.Tensor:
    """A class other than each label and outside `exclude` (the other forgotten classes, when several are).

    "next": the next allowed class after y, cyclically ((y + 1) mod K without exclusions, SalUn's reference);
    "random": uniformly random among the allowed classes other than y.
    """
    allowed = torch.tensor([c for c in range(num_classes) if c not in set(exclude)], dtype=torch.long)
    if len(allowed) == 0 or (len(allowed) == 1 and bool((labels == allowed[0]).any())):
        raise ValueError(f"no class is left to relabel to: {num_classes} classes, {len(set(exclude))} excluded")
    table = allowed.to(labels.device)
    if mode == "next":
        following = torch.searchsorted(table, labels, right=True) % len(table)  # the first allowed class above y
        return table[following]
    if mode == "random":
        position = torch.searchsorted(table, labels).clamp(max=len(table) - 1)
        inside = table[position] == labels  # y itself is allowed: draw among the others
        draw = torch.rand(labels.shape, generator=generator).to(labels.device)
        index = (draw * (len(table) - inside.long())).long()
        return table[index + (inside & (index >= position)).long()]
    raise ValueError(f"unknown relabel mode {mode!r}: use next or random")
