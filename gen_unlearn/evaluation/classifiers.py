"""The classifier that judges samples: shipped, saved, TorchScript or torchvision, with an optional class-index map.

Every classifier takes float images in [0, 1] (N, C, H, W) at the pipeline's image size and returns logits:
K outputs for the pipeline's K classes, or K + 1 where the last says "none of these" (`rejects`). A
classifier with other classes is judged through a class-index map (`ClassMapped`): pipeline class c gets the
summed probability of the classifier classes mapped to it, and the classes mapped to none say "none of these".

`torchvision:<model>[:<weights>]` loads a torchvision model with its weights' own preprocessing (resize,
centre crop, normalisation), applied to the batch on its device and recorded in the protocol. The weights
are an enum name (default `DEFAULT`), read from torch's cache and downloaded when online, or the path of a
state-dict file, the offline way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from pipelines import ClassConditionalPipeline

from ..classifier import ScriptedClassifier, rejects
from ..data import dataset_of
from ..hub import load_classifier
from ..io import load_torch, module_sha256, sha256_file

DEFAULT_CLASSIFIERS = {"mnist": "mnist-classifier", "fashion-mnist": "fashion-classifier"}
DEFAULT_CLASSIFIER_HELP = "the shipped classifier of the pipeline's dataset: mnist-classifier or fashion-classifier"
TORCHVISION_PREFIX = "torchvision:"


class TorchvisionClassifier(nn.Module):
    """A torchvision classifier behind its weights' preprocessing: images in [0, 1] at any size, logits out."""

    def __init__(self, model: nn.Module, preprocess: nn.Module, source: str, num_outputs: int):
        super().__init__()
        self.model, self.preprocess = model.eval(), preprocess
        self.config = SimpleNamespace(
            num_classes=num_outputs, reject=False, source=source, preprocessing=describe_preprocessing(preprocess)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        rgb = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        return self.model(self.preprocess(rgb))


def describe_preprocessing(preprocess: nn.Module) -> dict[str, Any]:
    """The resize, crop and normalisation a torchvision weights' transform applies, for the protocol."""
    fields = ("resize_size", "crop_size", "mean", "std", "interpolation", "antialias")
    described = {name: getattr(preprocess, name) for name in fields if hasattr(preprocess, name)}
    described = {k: (v.value if hasattr(v, "value") else v) for k, v in described.items()}
    return {"transform": type(preprocess).__name__, **described}


def _torchvision_weights(name: str, weights: str) -> tuple[Any, str | None]:
    """(weights enum member, state-dict file or None) for `torchvision:<name>:<weights>`."""
    from torchvision import models

    if name not in models.list_models():
        raise ValueError(f"torchvision has no model {name!r}: use a name from torchvision.models.list_models()")
    enum = models.get_model_weights(name)
    if Path(weights).is_file():
        return enum.DEFAULT, weights
    try:
        return enum[weights], None
    except KeyError:
        names = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise ValueError(
            f"{name} has no weights {weights!r}: use one of {names}, or the path of a state-dict file"
        ) from None


def load_torchvision_classifier(spec: str) -> TorchvisionClassifier:
    """`torchvision:<model>[:<weights>]`: weights by enum name from torch's cache (downloaded when online) or a file."""
    from torchvision import models

    name, _, weights = spec.removeprefix(TORCHVISION_PREFIX).partition(":")
    chosen, state_file = _torchvision_weights(name, weights or "DEFAULT")
    outputs = len(chosen.meta["categories"])
    if state_file is not None:
        model = models.get_model(name, weights=None, num_classes=outputs)
        try:
            model.load_state_dict(load_torch(state_file), strict=False)
        except RuntimeError as error:
            raise ValueError(f"{state_file} is not a state dict of torchvision's {name}: {error}") from None
        source = f"{spec} (sha256 {sha256_file(state_file)[:16]}, preprocessing of {chosen})"
    else:
        try:
            model = models.get_model(name, weights=chosen)
        except OSError as error:  # offline, and the file is not in torch's cache
            cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(chosen.url).name
            raise ValueError(
                f"the weights {chosen} are not in torch's cache ({cached}) and could not be downloaded ({error}): "
                f"download them where there is network, or pass {TORCHVISION_PREFIX}{name}:/path/to/weights.pth"
            ) from None
        source = f"{TORCHVISION_PREFIX}{name}:{chosen.name} ({chosen.url})"
    return TorchvisionClassifier(model, chosen.transforms(), source, outputs)


class ClassMapped(nn.Module):
    """A classifier read through a class-index map: pipeline class c <- the classifier classes `mapping[c]`.

    Logits out are per pipeline class the log of the summed probability of its classifier classes (logsumexp of
    their logits), then, if some classifier classes are mapped to no pipeline class, one "none of these" output.
    """

    def __init__(self, classifier: nn.Module, mapping: dict[int, list[int]], num_classes: int, num_outputs: int):
        super().__init__()
        self.classifier = classifier
        self.groups = [torch.as_tensor(mapping[c]) for c in range(num_classes)]
        mapped = {i for group in mapping.values() for i in group}
        self.unmapped = torch.as_tensor(sorted(set(range(num_outputs)) - mapped), dtype=torch.long)
        source = getattr(getattr(classifier, "config", None), "source", type(classifier).__name__)
        self.config = SimpleNamespace(
            num_classes=num_classes,
            reject=len(self.unmapped) > 0,
            source=source,
            preprocessing=getattr(getattr(classifier, "config", None), "preprocessing", None),
            class_map={str(c): list(map(int, g)) for c, g in mapping.items()},
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(images)
        groups = [logits[:, g.to(logits.device)].logsumexp(-1) for g in self.groups]
        if len(self.unmapped):
            groups.append(logits[:, self.unmapped.to(logits.device)].logsumexp(-1))
        return torch.stack(groups, dim=-1)


def read_class_map(
    source: str | os.PathLike | dict, pipeline: ClassConditionalPipeline, num_outputs: int
) -> dict[int, list[int]]:
    """A class map from a JSON file or dict: {pipeline class (id or name): classifier index or list of them}.

    Every pipeline class must be mapped; indices must be outputs of the classifier.
    """
    if isinstance(source, dict):
        raw = source
    else:
        try:
            raw = json.loads(Path(source).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read the class map {source}: {error}: give a JSON object") from None
    if not isinstance(raw, dict):
        raise ValueError(f"the class map {source} must be a JSON object {{pipeline class: classifier index or list}}")
    mapping = {}
    for key, value in raw.items():
        indices = [int(i) for i in (value if isinstance(value, list) else [value])]
        bad = [i for i in indices if not 0 <= i < num_outputs]
        if bad:
            raise ValueError(f"the class map sends {key!r} to {bad}, outside the classifier's {num_outputs} outputs")
        mapping[pipeline.class_id(int(key) if str(key).isdigit() else key)] = indices
    missing = [c for c in range(pipeline.num_classes) if c not in mapping]
    if missing:
        raise ValueError(
            f"the class map has no entry for pipeline classes {missing[:10]}{' ...' if len(missing) > 10 else ''}: "
            "map every class of the pipeline"
        )
    return mapping


def count_outputs(classifier: nn.Module, pipeline: ClassConditionalPipeline, device: torch.device) -> int:
    """How many logits the classifier gives for one blank image of the pipeline's shape."""
    with torch.no_grad():
        return int(classifier.eval()(torch.zeros(1, *pipeline.image_shape, device=device)).shape[-1])


def _load(name: str, device: torch.device, pipeline: ClassConditionalPipeline) -> nn.Module:
    if name.startswith(TORCHVISION_PREFIX):
        return load_torchvision_classifier(name).to(device)
    if Path(name).is_file():
        return ScriptedClassifier.load(name, pipeline.image_shape, pipeline.num_classes).to(device)
    return load_classifier(name, device=device)


def resolve_classifier(
    classifier: str | os.PathLike | nn.Module | None,
    device: torch.device,
    pipeline: ClassConditionalPipeline,
    class_map: str | os.PathLike | dict | None = None,
) -> tuple[nn.Module, str]:
    """The classifier module and its name, checked against the pipeline's classes (a one-line error otherwise).

    A module is used as is; a string is a shipped name, a saved directory, a TorchScript file or
    `torchvision:<model>[:<weights>]`; None is the default. `class_map` maps its classes onto the pipeline's.
    """
    if isinstance(classifier, nn.Module):
        model, name = classifier.to(device).eval(), type(classifier).__name__
    else:
        name = str(classifier or DEFAULT_CLASSIFIERS.get(dataset_of(pipeline), DEFAULT_CLASSIFIERS["mnist"]))
        model = _load(name, device, pipeline)
    outputs, k = count_outputs(model, pipeline, device), pipeline.num_classes
    if class_map is not None:
        return ClassMapped(model, read_class_map(class_map, pipeline, outputs), k, outputs).to(device), name
    if outputs == k + 1 and getattr(model, "config", None) is None:  # a bare module: the TorchScript contract
        model = ScriptedClassifier(model, k, True, name)
    if outputs == k or (outputs == k + 1 and rejects(model)):
        return model, name
    raise ValueError(
        f"the classifier {name} has {outputs} outputs but the pipeline has {k} classes: pass --class-map FILE.json "
        "(pipeline class -> classifier indices) or a classifier trained on the pipeline's classes"
    )


def classifier_sha256(
    pipeline: ClassConditionalPipeline,
    classifier: str | os.PathLike | nn.Module | None = None,
    class_map: str | os.PathLike | dict | None = None,
) -> str:
    """The sha256 of the weights that would judge `pipeline`'s samples (as `resolve_classifier` picks them): what a
    kept result's key names, so that a retrained classifier, shipped under the same name, re-measures."""
    return module_sha256(resolve_classifier(classifier, pipeline._execution_device, pipeline, class_map)[0])


def classifier_record(model: nn.Module, name: str) -> dict[str, Any]:
    """What the protocol says about the classifier: name, weights' sha256, reject output, preprocessing, map."""
    config = getattr(model, "config", None)
    record = {"name": name, "sha256": module_sha256(model), "reject_output": rejects(model)}
    for key in ("source", "preprocessing", "class_map"):
        value = getattr(config, key, None) if config is not None else None
        if value is not None:
            record[key] = value
    return record


__all__ = [
    "DEFAULT_CLASSIFIERS",
    "DEFAULT_CLASSIFIER_HELP",
    "ClassMapped",
    "TorchvisionClassifier",
    "classifier_record",
    "classifier_sha256",
    "load_torchvision_classifier",
    "read_class_map",
    "resolve_classifier",
]
