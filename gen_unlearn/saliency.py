"""Which parameters an unlearner may move: Fisher-ratio masks (SFR-on) and gradient top-k masks (SalUn).

A mask is a dict from parameter name to a boolean tensor of the parameter's shape; `True` = may move.
Masks are computed once at the initial model and applied to gradients (`mask_gradients`) before every
optimizer step, so parameters outside the mask never move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

Mask = dict[str, torch.Tensor]
BatchLoss = Callable[[object], torch.Tensor]


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def fisher_diagonal(model: nn.Module, batches: Iterable[object], batch_loss: BatchLoss) -> dict[str, torch.Tensor]:
    """F = mean over batches of (∇θ L_batch)², the empirical Fisher diagonal at the current parameters."""
    params = trainable_parameters(model)
    fisher = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in params.items()}
    count = 0
    for batch in batches:
        model.zero_grad(set_to_none=True)
        batch_loss(batch).backward()
        for name, p in params.items():
            if p.grad is not None:
                fisher[name] += p.grad.detach().float().pow(2)
        count += 1
    model.zero_grad(set_to_none=True)
    if count == 0:
        raise ValueError("no batches to estimate the Fisher information from")
    return {name: f / count for name, f in fisher.items()}


def fisher_ratio_mask(
    fisher_forget: dict[str, torch.Tensor],
    fisher_remain: dict[str, torch.Tensor],
    gamma: float = 1.0,
    eps: float = 1e-20,
) -> Mask:
    """m = 1[F_f / F_r ≥ γ]: parameters more important to the forget set than to the remain set (SFR-on)."""
    return {name: fisher_forget[name] / (fisher_remain[name] + eps) >= gamma for name in fisher_forget}


def gradient_topk_mask(gradients: dict[str, torch.Tensor], fraction: float = 0.5) -> Mask:
    """The `fraction` of all parameters with the largest |∇ forget loss|, one threshold over the whole model (SalUn)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"mask fraction must be in (0, 1], got {fraction}")
    magnitudes = torch.cat([g.abs().flatten().float() for g in gradients.values()])
    keep = max(1, round(fraction * magnitudes.numel()))
    threshold = torch.topk(magnitudes, keep).values.min()
    return {name: g.abs().float() >= threshold for name, g in gradients.items()}


def summed_gradients(model: nn.Module, batches: Iterable[object], batch_loss: BatchLoss) -> dict[str, torch.Tensor]:
    """Σ over batches of ∇θ L_batch (SalUn's saliency)."""
    params = trainable_parameters(model)
    total = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in params.items()}
    for batch in batches:
        model.zero_grad(set_to_none=True)
        batch_loss(batch).backward()
        for name, p in params.items():
            if p.grad is not None:
                total[name] += p.grad.detach().float()
    model.zero_grad(set_to_none=True)
    return total


def mask_gradients(model: nn.Module, mask: Mask | None) -> None:
    """Zero the gradient of every parameter entry outside the mask."""
    if mask is None:
        return
    for name, p in model.named_parameters():
        if p.grad is not None and name in mask:
            p.grad.mul_(mask[name].to(p.grad.device, p.grad.dtype))


def mask_density(mask: Mask) -> float:
    """Share of parameters inside the mask."""
    total = sum(m.numel() for m in mask.values())
    return sum(int(m.sum()) for m in mask.values()) / max(1, total)
