"""Endless, seeded, resumable streams of training batches through a `DataLoader`.

Batch k of a stream holds `batch_size` indices drawn (with replacement) by a generator seeded with
(seed, k) alone: it is the same whatever came before, so a stream's whole state is how many batches
it has given, and a resumed run draws exactly the batches an uninterrupted one would. The images are
read by the `DataLoader`'s workers while the model trains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def mixed_seed(*parts: int) -> int:
    """A 63-bit seed from several integers (seed, rank, step, ...), well spread."""
    digest = hashlib.sha256(":".join(str(int(p)) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class SeededBatches(Sampler[list[int]]):
    """Endless batches of indices into `num_samples` items; batch k depends only on (seed, k)."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, start: int = 0):
        self.num_samples, self.batch_size, self.seed, self.start = num_samples, batch_size, seed, start

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start
        while True:
            generator = torch.Generator().manual_seed(mixed_seed(self.seed, k))
            yield torch.randint(0, self.num_samples, (self.batch_size,), generator=generator).tolist()
            k += 1


class BatchStream:
    """`next(stream)` gives (uint8 images (B, C, H, W), labels (B,)) forever; `state_dict` is its batch count.

    Unreadable files the dataset skipped are collected in `skipped` (their dataset indices).
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, num_workers: int = 0, pin_memory: bool = False):
        if len(dataset) == 0:
            raise ValueError("no samples to draw batches from")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.consumed = 0
        self.skipped: set[int] = set()
        self._iterator: Iterator | None = None

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._iterator is None:
            loader = DataLoader(
                self.dataset,
                batch_sampler=SeededBatches(len(self.dataset), self.batch_size, self.seed, self.consumed),
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                prefetch_factor=4 if self.num_workers else None,
            )
            self._iterator = iter(loader)
        images, labels, *skipped = next(self._iterator)
        self.consumed += 1
        if skipped:
            self.skipped.update(int(i) for i in skipped[0].flatten().tolist() if i >= 0)
        return images, labels

    def reseed(self, seed: int) -> None:
        """Draw another sequence of batches (each process of a multi-process run has its own)."""
        self.seed, self.consumed, self._iterator = seed, 0, None

    def state_dict(self) -> dict[str, int]:
        """The batch count: the same in every process of a run, whose streams differ by seed only."""
        return {"consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["consumed"]) != self.consumed:
            self.consumed, self._iterator = int(state["consumed"]), None
