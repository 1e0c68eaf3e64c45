"""What every classification unlearner shares: a private copy of the model, seeded batches, an optimizer, the loop.

`ClassificationUnlearner.run()` never touches the model it was given: it works on a deep copy and
returns the unlearned copy with its wall time. `IterativeUnlearner` is the base of every method that
takes optimizer steps: subclasses set `name` and `Config`, may build masks or teachers in `prepare`,
and implement `step`, which takes one or more steps through `self.trainer.optimizer_step` (the shared
accelerate loop: masks, clipping, devices).
"""

from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ..batches import BatchStream, mixed_seed
from ..loop import Trainer, TrainingConfig
from .splits import UnlearningSplits
from .training import lr_at, make_optimizer, set_lr, to_input


def batch_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of the batch (in %) whose arg-max logit is the label."""
    return 100.0 * (logits.argmax(-1) == labels).float().mean().item()


class UnlearningDivergedError(ValueError):
    """The unlearning loss exploded; the run was stopped and the input model is unchanged."""


@dataclass
class UnlearnConfig:
    """Hyperparameters of every iterative method; each method's Config adds its own and may change defaults."""

    steps: int = 75
    batch_size: int = 64  # remain samples per step
    forget_batch_size: int = 64  # forget samples per step
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "constant"  # constant | cosine | warmup-cosine
    max_grad_norm: float | None = None
    # BatchNorm in eval mode (the original's running statistics, used and kept) instead of train mode.
    # Methods that step on the forget set alone freeze them: statistics of one class would shift every class.
    freeze_norm_stats: bool = False
    # Both compare a forget batch's accuracy with `IterativeUnlearner.forgotten_accuracy()`, for methods whose
    # steps report it as `forget_acc`: apply the forget term only to batches not yet forgotten (`remembers`),
    # or end the run at the first forgotten batch.
    forget_until_forgotten: bool = False
    stop_when_forgotten: bool = False

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be 0 or more, got {self.steps}")
        if self.batch_size < 1 or self.forget_batch_size < 1:
            raise ValueError("batch sizes must be at least 1")


@dataclass
class UnlearnResult:
    """The unlearned model (a new object), the method's wall time and settings, and the per-step loss terms."""

    model: nn.Module
    method: str
    wall_time_s: float
    config: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)


class ClassificationUnlearner(ABC):
    """An unlearning method for a classifier, given the forget / remain / validation splits."""

    name: ClassVar[str]
    Config: ClassVar[type]

    def __init__(self, model: nn.Module, splits: UnlearningSplits, config: Any, seed: int = 0, device: str = "cpu"):
        self.original, self.splits, self.config, self.seed, self.device = model, splits, config, seed, device

    @abstractmethod
    def run(self, progress: bool = False) -> UnlearnResult:
        """Unlearn; the model given to the constructor is left as it was."""


def freeze_norm_statistics(model: nn.Module) -> None:
    """Put normalisation layers in eval mode: they use (and keep) their running statistics."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


class IterativeUnlearner(ClassificationUnlearner):
    """A method that takes `config.steps` iterations of optimizer steps on forget and/or remain batches."""

    Config: ClassVar[type[UnlearnConfig]] = UnlearnConfig
    config: UnlearnConfig

    def __init__(
        self, model: nn.Module, splits: UnlearningSplits, config: UnlearnConfig, seed: int = 0, device: str = "cpu"
    ):
        super().__init__(model, splits, config, seed, device)
        self.model = copy.deepcopy(model).to(device)
        # the generative methods' streams: batch k seeded by (seed, k), resumable, one sequence per process
        forget, remain = splits.forget, splits.remain
        self.forget_batches = BatchStream(TensorDataset(forget.images, forget.labels), config.forget_batch_size, seed)
        self.remain_batches = BatchStream(TensorDataset(remain.images, remain.labels), config.batch_size, seed + 1)
        self.generator = torch.Generator().manual_seed(seed + 2)
        self.trainer: Trainer | None = None

    @property
    def num_classes(self) -> int:
        return self.splits.num_classes

    # -- batches ------------------------------------------------------------------------------

    def _on_device(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        return to_input(images, self.device), labels.to(self.device)

    def forget_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._on_device(next(self.forget_batches))

    def remain_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._on_device(next(self.remain_batches))

    def frozen_copy(self, model: nn.Module | None = None) -> nn.Module:
        """An eval-mode copy without gradients (a teacher or a reference)."""
        copied = copy.deepcopy(model if model is not None else self.original).to(self.device).eval()
        return copied.requires_grad_(False)

    def forward_both(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of two batches in one forward pass."""
        logits = self.trainer.model(torch.cat([first, second]))
        return logits[: len(first)], logits[len(first) :]

    # -- the loop -----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Work done once before the first step (masks, teachers); it counts in the wall time."""
        return None

    @torch.no_grad()
    def forgotten_accuracy(self) -> float:
        """The forget accuracy (%) of a model that never saw D_f: an early-stopping target for ascent methods.

        Class-wise forgetting: 0 (a model never trained on a class never predicts it). Random subset: the
        accuracy of the input model on the held-out validation set, i.e. what it scores on unseen data.
        """
        if self.splits.forget_class is not None:
            return 0.0
        validation = self.splits.validation
        model = self.frozen_copy()
        correct = 0
        for start in range(0, len(validation), 1024):
            images = to_input(validation.images[start : start + 1024], self.device)
            correct += (model(images).argmax(-1).cpu() == validation.labels[start : start + 1024]).sum().item()
        return 100.0 * correct / len(validation)

    def is_forgotten(self, forget_accuracy: float) -> bool:
        """Whether a forget batch scoring `forget_accuracy` (%) scores like unseen data (≤ `forgotten_accuracy()`)."""
        return forget_accuracy <= self.unseen_accuracy

    def remembers(self, forget_accuracy: float) -> bool:
        """Whether the forget term should act on a batch of this accuracy (%): always, unless
        `forget_until_forgotten` is set, in which case only while the batch is not yet forgotten.

        Once the forget set scores like unseen data, pushing further only damages the model on the rest:
        the gate turns the forget term off batch by batch (and back on if the forget set comes back).
        """
        return not (self.config.forget_until_forgotten and self.is_forgotten(forget_accuracy))

    def remembers_batch(self, images: torch.Tensor, labels: torch.Tensor) -> bool:
        """`remembers` for a method that has no logits of the batch yet: an eval-mode forward, only when gated."""
        if not self.config.forget_until_forgotten:
            return True
        self.model.eval()
        with torch.no_grad():
            logits = self.trainer.model(images)
        self.train_mode()
        return self.remembers(batch_accuracy(logits, labels))

    def train_mode(self) -> None:
        self.model.train()
        if self.config.freeze_norm_stats:
            freeze_norm_statistics(self.model)

    @abstractmethod
    def step(self, step: int) -> dict[str, float]:
        """One iteration; returns the loss terms to record."""

    def finish(self) -> nn.Module:
        """The unlearned model once the steps are done."""
        return self.trainer.finish().eval()

    def _step(self, step: int) -> dict[str, float]:
        # With `stop_when_forgotten`, a method whose steps report `forget_acc` ends at the first forgotten
        # forget batch; the remaining steps are skipped.
        if self.stopped:
            return {}
        self.train_mode()
        config = self.config
        set_lr(self.trainer.optimizer, lr_at(config.lr, step, config.steps, config.lr_schedule, warmup=0.1))
        terms = self.step(step)
        self.stopped = config.stop_when_forgotten and self.is_forgotten(terms.get("forget_acc", math.inf))
        return terms

    def state_dict(self) -> dict[str, Any]:
        """The batch streams' positions and whether the run stopped: what a resumed run needs besides weights."""
        streams = {"forget": self.forget_batches.state_dict(), "remain": self.remain_batches.state_dict()}
        return {**streams, "stopped": self.stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.forget_batches.load_state_dict(state["forget"])
        self.remain_batches.load_state_dict(state["remain"])
        self.stopped = bool(state["stopped"])

    def run(self, progress: bool = False) -> UnlearnResult:
        start = time.time()
        torch.manual_seed(self.seed)  # dropout
        self.stopped = False
        gated = self.config.forget_until_forgotten or self.config.stop_when_forgotten
        self.unseen_accuracy = self.forgotten_accuracy() if gated else None
        self.prepare()
        config = self.config
        optimizer = make_optimizer(
            self.model.parameters(), config.optimizer, config.lr, config.momentum, config.weight_decay
        )
        loop = TrainingConfig(
            steps=config.steps,
            batch_size=config.batch_size,
            seed=self.seed,
            progress=progress,
            device=self.device,
        )
        self.trainer = Trainer(loop).prepare(self.model, optimizer)
        rank = self.trainer.accelerator.process_index
        if rank:  # every process draws its own batches
            self.forget_batches.reseed(mixed_seed(self.seed, rank, 0))
            self.remain_batches.reseed(mixed_seed(self.seed, rank, 1))
        history = self.trainer.run(self._step, checkpointed=[self], desc=self.name)
        model = self.finish()
        return UnlearnResult(model, self.name, time.time() - start, asdict(config), history)
