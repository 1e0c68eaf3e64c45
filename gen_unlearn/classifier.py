"""Image classifiers used to judge samples (forgetting accuracy) and to unlearn on the classification side.

They are diffusers `ModelMixin`/`ConfigMixin` models, so they save and load like the pipelines'
components: `save_pretrained` writes `config.json` + safetensors, `from_pretrained` reads them back.
Inputs are float images in [0, 1], shape (N, C, H, W), the pipelines' `output_type="pt"`.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class SmallCNN(ModelMixin, ConfigMixin):
    """Two conv blocks and an MLP head: ≥ 99% on MNIST, trains in minutes on a CPU.

    With `reject=True` the head has one more output, K = `num_classes`: "none of these", for images
    that belong to no class (trained on `gen_unlearn.negatives`). Class k is still output k.
    """

    @register_to_config
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        width: int = 32,
        hidden: int = 128,
        mean: float = 0.5,
        std: float = 0.5,
        id2label: dict[str, str] | None = None,
        reject: bool = False,
    ):
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(in_channels, width), block(width, 2 * width), nn.Flatten())
        flat = 2 * width * (image_size // 4) ** 2
        self.embed = nn.Sequential(nn.Dropout(0.25), nn.Linear(flat, hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(hidden, num_classes + int(reject)))

    def penultimate(self, images: torch.Tensor) -> torch.Tensor:
        """The `hidden`-dimensional features before the last layer (a domain feature extractor)."""
        x = (images - self.config.mean) / self.config.std
        return self.embed(self.features(x))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(images))


class ScriptedClassifier(nn.Module):
    """A TorchScript classifier with the same contract as `SmallCNN`: float images in [0, 1] (N, C, H, W) at the
    pipeline's image size in, logits out; K outputs, or K + 1 where the last says "none of these".

    `config` says how many classes it has and whether it rejects, read off one forward pass.
    """

    def __init__(self, module: torch.jit.ScriptModule, num_classes: int, reject: bool, source: str):
        super().__init__()
        self.module = module
        self.config = SimpleNamespace(num_classes=num_classes, reject=reject, source=source)

    @classmethod
    def load(cls, path: str, image_shape: tuple[int, int, int], num_classes: int) -> ScriptedClassifier:
        """Load the file; K + 1 outputs for a K-class pipeline means the last is "none of these".

        Any other count loads too (a class map may go with it): `evaluation.classifiers.resolve_classifier`
        checks the count against the pipeline.
        """
        try:
            module = torch.jit.load(path, map_location="cpu").eval()
        except (RuntimeError, ValueError) as error:
            raise ValueError(
                f"{path} is not a TorchScript classifier ({type(error).__name__}): save one with torch.jit.save, "
                "or pass a shipped name or a saved SmallCNN directory"
            ) from None
        with torch.no_grad():
            outputs = module(torch.zeros(1, *image_shape)).shape[-1]
        reject = outputs == num_classes + 1
        return cls(module, outputs - int(reject), reject, str(path))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images)


def rejects(classifier: nn.Module) -> bool:
    """Whether `classifier` has a "none of these" output after its classes (the last one)."""
    config = getattr(classifier, "config", None)
    return bool(getattr(config, "reject", False)) if config is not None else False


@torch.no_grad()
def predict_proba(classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Softmax probabilities for float images in [0, 1] (or uint8 in [0, 255]), in eval mode, batched.

    (N, K), or (N, K + 1) for a classifier that `rejects`: the last column is "none of these".
    """
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    try:
        probs = []
        for chunk in images.split(batch_size):
            chunk = chunk.float() / 255.0 if chunk.dtype == torch.uint8 else chunk.float()
            probs.append(classifier(chunk.to(device)).softmax(-1).cpu())
        return torch.cat(probs)
    finally:
        classifier.train(was_training)
