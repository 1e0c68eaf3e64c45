"""What every generative unlearner shares: its data streams, its optimizer, and its place in the loop."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch.utils.data import Dataset

from ..batches import BatchStream, mixed_seed
from ..data import ForgetRemainSets
from ..denoiser import DenoisingObjective
from ..loop import Trainer, TrainingConfig
from ..replay import DataFreeConfig


@dataclass
class MethodConfig:
    """Hyperparameters common to every method; subclasses add their own."""

    lr: float = 1e-4
    max_grad_norm: float | None = 1.0

    def for_denoiser(self, denoiser: torch.nn.Module) -> MethodConfig:
        """These settings with any left to the denoiser (None) filled in for it; most methods have none."""
        return self


class GenerativeUnlearner(ABC):
    """An unlearning method for a class-conditional denoiser.

    Subclasses set `name` and `Config`, may compute masks or Fisher information in `prepare`, and
    implement `step`, which takes one or more optimizer steps through `trainer.optimizer_step`.

    Randomness is a function of (seed, process, step): the batch streams draw batch k from (seed, k),
    and the noise generator is reseeded at every step, so a resumed run repeats an uninterrupted one
    and the only state to checkpoint is how many batches each stream has given.
    """

    name: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    default_steps: ClassVar[int] = 50

    def __init__(
        self,
        objective: DenoisingObjective,
        data: ForgetRemainSets,
        config: MethodConfig,
        training: TrainingConfig,
        fingerprint: str | None = None,
        sampling: DataFreeConfig | None = None,
    ):
        self.objective, self.data, self.training = objective, data, training
        self.config = config.for_denoiser(objective.trainable)  # what runs (and `run.json` records)
        self.fingerprint = fingerprint  # of the input pipeline: the cache key of masks and Fisher tensors
        self.sampling = sampling or DataFreeConfig()  # how a method that samples (SA's replay) draws its samples
        self.forget_class = data.forget_class  # one class index, or a tuple of them
        self.forget_classes = data.forget_classes
        self.trainer: Trainer | None = None
        self.rank = 0
        self.forget_batches = self.stream(data.forget, training.seed)
        self.remain_batches = self.stream(data.remain, training.seed + 1)
        self.generator = torch.Generator().manual_seed(training.seed + 2)

    @property
    def device(self) -> torch.device:
        return self.trainer.device if self.trainer is not None else next(self.objective.trainable.parameters()).device

    def stream(self, dataset: Dataset, seed: int) -> BatchStream:
        """Endless seeded batches of `dataset` through a DataLoader (workers for image files)."""
        workers = self.training.num_workers
        if workers is None:
            workers = getattr(self.data.images, "num_workers", 0)
        pin = workers > 0 and self.device.type == "cuda"
        return BatchStream(dataset, self.training.batch_size, seed, workers, pin_memory=pin)

    def attach(self, trainer: Trainer) -> None:
        """Run inside `trainer`: compute the one-off statistics, then give each process its own batches.

        `prepare` draws from the training streams, which are rewound afterwards: a run whose masks
        come from the cache then trains on the same batches as the run that computed them, and every
        process computes the same masks (same seed) before the streams split per process.
        """
        self.trainer = trainer
        streams = self.state_dict()
        self.prepare()
        self.load_state_dict(streams)
        self.rank = trainer.accelerator.process_index
        if self.rank:
            self.forget_batches.reseed(mixed_seed(self.training.seed, self.rank, 0))
            self.remain_batches.reseed(mixed_seed(self.training.seed, self.rank, 1))

    def skipped_images(self) -> list[int]:
        """Dataset indices of unreadable image files the streams skipped so far."""
        return sorted(self.forget_batches.skipped | self.remain_batches.skipped)

    # -- set-up ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Work done once before the first step (masks, Fisher information, copies of the initial weights)."""
        return None

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.config.lr)

    # -- batches --------------------------------------------------------------------------------

    def _encoded(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        images = images.to(self.device, non_blocking=True).float() / 127.5 - 1.0  # uint8 -> [-1, 1]
        x0 = self.objective.encode(images, generator=self.generator)
        return x0, labels.to(self.device)

    def forget_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, y) of the forget class, x0 in the denoiser's space (VAE latents for DiT)."""
        return self._encoded(next(self.forget_batches))

    def remain_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._encoded(next(self.remain_batches))

    def noise_loss(
        self,
        x0: torch.Tensor,
        y: torch.Tensor,
        label_dropout: float = 0.0,
        teacher: torch.nn.Module | None = None,
        guidance: float | None = None,
    ) -> torch.Tensor:
        """Per-sample ℓ_i(θ; x0, y), optionally with classifier-free label dropout and a teacher's (guided) target."""
        y = self.objective.drop_labels(y, label_dropout, self.generator)
        return self.objective.loss(x0, y, generator=self.generator, teacher=teacher, guidance=guidance)

    def frozen_copy(self) -> torch.nn.Module:
        """The denoiser as it is now (before the first step: the original), frozen, on the training device."""
        return copy.deepcopy(self.objective.trainable).requires_grad_(False).eval()

    # -- the loop -------------------------------------------------------------------------------

    def train_step(self, step: int) -> dict[str, float]:
        """What the loop calls: reseed the noise for (seed, process, step), then take the method's step."""
        self.generator.manual_seed(mixed_seed(self.training.seed, self.rank, step, 2))
        return self.step(step)

    @abstractmethod
    def step(self, step: int) -> dict[str, float]:
        """One unlearning iteration; returns the loss terms to show and record."""

    def state_dict(self) -> dict[str, Any]:
        return {"forget_batches": self.forget_batches.state_dict(), "remain_batches": self.remain_batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.forget_batches.load_state_dict(state["forget_batches"])
        self.remain_batches.load_state_dict(state["remain_batches"])
