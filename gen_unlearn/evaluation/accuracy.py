"""How often a classifier puts samples in the class they were asked for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..classifier import predict_proba


@dataclass
class ClassAccuracy:
    """Per-requested-class share of samples that the classifier assigns to that class."""

    per_class: dict[int, float]
    counts: dict[int, int]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_class.values()))) if self.per_class else float("nan")

    @property
    def worst(self) -> tuple[int, float]:
        class_id = min(self.per_class, key=self.per_class.get)
        return class_id, self.per_class[class_id]


def to_classifier_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (what sampling returns) or float NCHW in [0, 1] -> float NCHW in [0, 1]."""
    if isinstance(images, np.ndarray):
        return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def classify(classifier: torch.nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities (N, K) for sampled images."""
    return predict_proba(classifier, to_classifier_input(images), batch_size=batch_size)


def class_accuracy(probabilities: torch.Tensor, requested: np.ndarray | torch.Tensor) -> ClassAccuracy:
    requested = torch.as_tensor(requested)
    predicted = probabilities.argmax(-1)
    per_class, counts = {}, {}
    for class_id in sorted(set(requested.tolist())):
        mask = requested == class_id
        per_class[class_id] = (predicted[mask] == class_id).float().mean().item()
        counts[class_id] = int(mask.sum())
    return ClassAccuracy(per_class, counts)
