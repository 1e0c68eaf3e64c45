"""Training a classifier from scratch: the original model (on D_f ∪ D_r) and the retrained one (on D_r).

One epoch loop on the shared accelerate `Trainer`: seeded shuffling, SGD (Nesterov momentum) or AdamW,
a linear warm-up then cosine decay of the learning rate. The same seed gives the same model on the
same machine and thread count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..data import LabeledImages
from ..loop import Trainer, TrainingConfig

OPTIMIZERS = ("sgd", "adamw")
LR_SCHEDULES = ("constant", "cosine", "warmup-cosine")


def to_input(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Model input: float images in [0, 1] (uint8 images are scaled), on `device`."""
    images = images.to(device)
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def lr_at(base_lr: float, step: int, total_steps: int, schedule: str = "constant", warmup: float = 0.0) -> float:
    """The learning rate at `step`: constant, cosine to 0, or linear warm-up (a `warmup` share of steps) then cosine."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}: use one of {', '.join(LR_SCHEDULES)}")
    if schedule == "constant":
        return base_lr
    warmup_steps = round(warmup * total_steps) if schedule == "warmup-cosine" else 0
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * (1 + math.cos(math.pi * progress)) / 2


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def make_optimizer(
    params, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


@dataclass
class TrainConfig:
    """How the original and the retrained models are trained (the same for both)."""

    epochs: int = 3
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "warmup-cosine"
    warmup: float = 0.1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("training needs at least 1 epoch and a batch size of at least 1")


@dataclass
class TrainResult:
    model: nn.Module
    wall_time_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def train_classifier(
    model: nn.Module,
    data: LabeledImages,
    config: TrainConfig | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> TrainResult:
    """Minimise cross-entropy on `data` for `config.epochs` epochs (in place); returns the model and the wall time."""
    config = config or TrainConfig()
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = config.epochs * steps_per_epoch
    optimizer = make_optimizer(model.parameters(), config.optimizer, config.lr, config.momentum, config.weight_decay)
    loop = TrainingConfig(steps=total, batch_size=config.batch_size, seed=seed, progress=progress, device=device)
    start = time.time()
    trainer = Trainer(loop).prepare(model, optimizer)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout
    order = torch.empty(0, dtype=torch.long)

    def step_fn(step: int) -> dict[str, float]:
        nonlocal order
        position = step % steps_per_epoch
        if position == 0:
            order = torch.randperm(len(data), generator=generator)
        idx = order[position * config.batch_size : (position + 1) * config.batch_size]
        x, y = to_input(data.images[idx], trainer.device), data.labels[idx].to(trainer.device)
        set_lr(trainer.optimizer, lr_at(config.lr, step, total, config.schedule, config.warmup))
        loss = trainer.optimizer_step(lambda: F.cross_entropy(trainer.model(x), y))
        return {"loss": loss}

    history = trainer.run(step_fn, desc="training")
    model = trainer.finish().eval()
    return TrainResult(model, time.time() - start, history)
