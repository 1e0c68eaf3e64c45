"""Which parameters an unlearner may move: Fisher-ratio masks (SFR-on) and gradient top-k masks (SalUn).

A mask is a dict from parameter name to a boolean tensor of the parameter's shape; `True` = may move.
Masks are computed once at the initial model and applied to gradients (`mask_gradients`) before every
optimizer step, so parameters outside the mask never move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

Mask = dict[str, torch.Tensor]
BatchLoss = Callable[[object], torch.Tensor]


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def fisher_diagonal(
    model: nn.Module, batches: Iterable[object], batch_loss: BatchLoss, desc: str | None = None
) -> dict[str, torch.Tensor]:
    """F = mean over batches of (∇θ L_batch)², the empirical Fisher diagonal at the current parameters.

    `batch_loss(batch)` gives L_batch, or several losses whose gradients add up to ∇θ L_batch (one
    backward pass each, so that a large batch is taken in memory-bounded chunks). `desc` shows a progress bar.
    """
    params = trainable_parameters(model)
    fisher = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in params.items()}
    count = 0
    for batch in tqdm(batches, desc=desc, disable=desc is None, leave=False):
        model.zero_grad(set_to_none=True)
        losses = batch_loss(batch)
        for loss in [losses] if isinstance(losses, torch.Tensor) else losses:
            loss.backward()
        for name, p in params.items():
            if p.grad is not None:
                fisher[name] += p.grad.detach().float().pow(2)
        count += 1
    model.zero_grad(set_to_none=True)
    if count == 0:
        raise ValueError("no batches to estimate the Fisher information from")
    return {name: f.div_(count) for name, f in fisher.items()}


def fisher_ratio_mask(
    fisher_forget: dict[str, torch.Tensor],
    fisher_remain: dict[str, torch.Tensor],
    gamma: float = 1.0,
    eps: float = 1e-20,
) -> Mask:
    """m = 1[F_f / F_r ≥ γ]: parameters more important to the forget set than to the remain set (SFR-on)."""
    return {name: fisher_forget[name] / (fisher_remain[name] + eps) >= gamma for name in fisher_forget}


def gradient_topk_mask(gradients: dict[str, torch.Tensor], fraction: float = 0.5) -> Mask:
    """The `fraction` of all parameters with the largest |∇ forget loss|, one threshold over the whole model (SalUn).

    The threshold is the k-th largest magnitude, found by bisection on the bits of the float32
    magnitudes (monotonic for non-negative floats), counting per tensor: exact, and with no
    concatenated copy of the model (a DiT-XL/2's 675M gradients would need several GB more).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"mask fraction must be in (0, 1], got {fraction}")
    bits = {name: g.detach().abs().float().view(torch.int32) for name, g in gradients.items()}
    keep = max(1, round(fraction * sum(b.numel() for b in bits.values())))
    low, high = 0, 0x7F800000  # the largest value whose count of magnitudes at or above it is ≥ keep
    while low < high:
        middle = (low + high + 1) // 2
        if sum(int((b >= middle).sum()) for b in bits.values()) >= keep:
            low = middle
        else:
            high = middle - 1
    return {name: b >= low for name, b in bits.items()}


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
    """Zero the gradient of every parameter entry outside the mask (a boolean mask on the parameters' device)."""
    if mask is None:
        return
    for name, p in model.named_parameters():
        if p.grad is not None and name in mask:
            p.grad.mul_(mask[name])


def mask_density(mask: Mask) -> float:
    """Share of parameters inside the mask."""
    total = sum(m.numel() for m in mask.values())
    return sum(int(m.sum()) for m in mask.values()) / max(1, total)
