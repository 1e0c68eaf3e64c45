"""Loss weights shared by the unlearners: SFR-on's sample-wise adaptive weights and forget-weight schedules."""

from __future__ import annotations

import math

import torch

SCHEDULES = ("cosine", "linear", "constant")


def adaptive_forget_weights(losses: torch.Tensor, lam: float = 0.5, eps: float = 1e-8) -> torch.Tensor:
    """w_i = N · ℓ_i^(−λ) / Σ_j ℓ_j^(−λ), on detached losses: well-remembered samples (small ℓ) weigh more.

    The weights average to 1, so λ = 0 gives plain gradient ascent.
    """
    inverse = 1.0 / (losses.detach().float().pow(lam) + eps)
    return len(losses) * inverse / inverse.sum()


def forget_weight(alpha0: float, step: int, total_steps: int, schedule: str = "cosine") -> float:
    """α_f at iteration `step`: cosine α₀(1 + cos(π s/S))/2 (reference code), linear α₀(1 − s/S) (paper), or α₀."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown forget-weight schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    progress = step / max(1, total_steps)
    if schedule == "cosine":
        return alpha0 * (1 + math.cos(math.pi * progress)) / 2
    if schedule == "linear":
        return alpha0 * (1 - progress)
    return alpha0
