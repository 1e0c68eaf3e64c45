"""Forget / remain / validation / test sets for class-wise and random-subset forgetting.

A validation set is held out of the training split first (seeded): the original and the retrained
models never see it, so its loss is an honest "unseen data" loss (∇τ's target L̄_val). The rest of
the training split is cut into the forget set D_f and the remain set D_r (the papers' retain set):

- class-wise (`forget_class=c`): D_f = every remaining training sample of class c. TA is measured on
  the test samples of the other classes; the test accuracy on class c is reported apart.
- random subset (`forget_fraction=p`): D_f = a seeded random share p of the remaining training samples.
  TA is measured on the whole test set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..data import LabeledImages, class_split, load_dataset, random_subset_split

DEFAULT_VALIDATION_SIZE = 1000


@dataclass
class UnlearningSplits:
    """What unlearners train on (forget, remain, validation) and what metrics are measured on (plus test)."""

    forget: LabeledImages
    remain: LabeledImages
    train: LabeledImages  # D_f ∪ D_r in dataset order: what the original is trained on (the same for every split)
    validation: LabeledImages
    test: LabeledImages
    test_forget: LabeledImages | None = None  # class-wise only: test samples of the forgotten class
    forget_class: int | None = None
    forget_fraction: float | None = None
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return self.remain.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.remain.images.shape[1:])

    @property
    def setting(self) -> str:
        return f"class-{self.forget_class}" if self.forget_class is not None else f"random-{self.forget_fraction:g}"

    @property
    def training_size(self) -> int:
        """|D_f| + |D_r|: what the original model was trained on."""
        return len(self.train)

    def describe(self) -> dict[str, object]:
        return {
            "dataset": self.remain.name,
            "setting": self.setting,
            "forget_class": self.forget_class,
            "forget_fraction": self.forget_fraction,
            "split_seed": self.seed,
            "num_forget": len(self.forget),
            "num_remain": len(self.remain),
            "num_validation": len(self.validation),
            "num_test": len(self.test),
            "test_set": "test samples of the remaining classes" if self.forget_class is not None else "whole test set",
        }


def holdout_validation(train: LabeledImages, size: int, seed: int) -> tuple[LabeledImages, LabeledImages]:
    """(training pool, validation): `size` seeded random samples held out of `train`."""
    if not 0 < size < len(train):
        raise ValueError(f"validation size must be between 1 and {len(train) - 1}, got {size}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(10_000 + seed))
    return train.subset(order[size:].sort().values), train.subset(order[:size].sort().values)


def make_splits(
    train: LabeledImages,
    test: LabeledImages,
    forget_class: int | None = None,
    forget_fraction: float | None = None,
    seed: int = 0,
    validation_size: int = DEFAULT_VALIDATION_SIZE,
) -> UnlearningSplits:
    """Cut `train` into forget / remain / validation and pick the test set; exactly one of class or fraction."""
    if (forget_class is None) == (forget_fraction is None):
        raise ValueError("give exactly one of forget_class (class-wise) or forget_fraction (random subset)")
    pool, validation = holdout_validation(train, validation_size, seed)
    if forget_class is not None:
        forget_idx, remain_idx = class_split(pool.labels, forget_class)
        keep_test = test.labels != forget_class
        test_set, test_forget = test.subset(torch.nonzero(keep_test).flatten()), test.of_class(forget_class)
    else:
        forget_idx, remain_idx = random_subset_split(len(pool), forget_fraction, seed)
        test_set, test_forget = test, None
    return UnlearningSplits(
        forget=pool.subset(forget_idx),
        remain=pool.subset(remain_idx),
        train=pool,
        validation=validation,
        test=test_set,
        test_forget=test_forget,
        forget_class=forget_class,
        forget_fraction=forget_fraction,
        seed=seed,
    )


def load_splits(
    dataset: str,
    forget_class: int | None = None,
    forget_fraction: float | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    validation_size: int = DEFAULT_VALIDATION_SIZE,
) -> UnlearningSplits:
    train = load_dataset(dataset, root, train=True)
    test = load_dataset(dataset, root, train=False)
    return make_splits(train, test, forget_class, forget_fraction, seed, validation_size)
