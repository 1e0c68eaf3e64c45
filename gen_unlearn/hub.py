"""Find and load pipelines and classifiers by shipped name, local directory or Hugging Face Hub id.

Shipped names (`mnist-ddpm`, `mnist-dit`, `mnist-classifier`) load offline from the package itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

from pipelines import ClassConditionalDDPMPipeline, ClassConditionalDiTPipeline, ClassConditionalPipeline

from .classifier import SmallCNN
from .io import atomic_directory

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
# The same recipes trained without one class: the gold standard an erased pipeline is compared with.
RETRAINED_REFERENCES = {"mnist-ddpm-without-3": ("mnist-ddpm", 3), "fashion-ddpm-without-6": ("fashion-ddpm", 6)}
SHIPPED_PIPELINES = ("mnist-ddpm", "mnist-dit", "fashion-ddpm", "fashion-dit", *RETRAINED_REFERENCES)
SHIPPED_CLASSIFIERS = ("mnist-classifier", "fashion-classifier")
# The shipped pipelines' model-card targets, per dataset: (every class ≥, mean ≥) of samples judged as their class
PIPELINE_QUALITY_TARGETS = {"mnist": (0.97, 0.97), "fashion-mnist": (0.75, 0.90)}

PIPELINE_CLASSES: dict[str, type[ClassConditionalPipeline]] = {
    "ClassConditionalDDPMPipeline": ClassConditionalDDPMPipeline,
    "ClassConditionalDiTPipeline": ClassConditionalDiTPipeline,
    "DiTPipeline": ClassConditionalDiTPipeline,
}
SCHEDULERS = {
    "ddpm": DDPMScheduler,
    "ddim": DDIMScheduler,
    "dpm-solver": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
}


class PipelineNotFoundError(ValueError):
    pass


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def resolve(name_or_path: str | os.PathLike, shipped: tuple[str, ...], kind: str) -> str:
    """A shipped name, an existing local directory or a hub id -> what `from_pretrained` takes."""
    name = str(name_or_path)
    if name in shipped:
        path = PRETRAINED_DIR / name
        if not path.is_dir():
            raise PipelineNotFoundError(
                f"the shipped {kind} {name!r} is missing from {PRETRAINED_DIR}: reinstall gen-unlearn"
            )
        return str(path)
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists() or not _looks_like_hub_id(name):
        raise PipelineNotFoundError(
            f"unknown {kind} {name!r}: use a shipped name ({', '.join(shipped)}), "
            "a local directory saved with save_pretrained, or a Hugging Face Hub id such as org/name"
        )
    return name


def pipeline_class_of(source: str) -> type[ClassConditionalPipeline]:
    """The pipeline class to load `source` with, read from its `model_index.json`."""
    local = Path(source)
    try:
        if local.is_dir():
            index_file = local / "model_index.json"
            if not index_file.exists():
                raise PipelineNotFoundError(
                    f"{source} has no model_index.json: point at a pipeline directory saved with save_pretrained"
                )
            class_name = json.loads(index_file.read_text())["_class_name"]
        else:
            class_name = ClassConditionalDDPMPipeline.load_config(source)["_class_name"]
    except (OSError, json.JSONDecodeError, KeyError) as error:
        raise PipelineNotFoundError(
            f"could not read the pipeline config of {source!r} ({type(error).__name__}): "
            "check the id and your network, or download it and pass the local directory"
        ) from None
    if class_name not in PIPELINE_CLASSES:
        raise PipelineNotFoundError(
            f"{source} holds a {class_name}, not a class-conditional pipeline: gen_unlearn works with "
            f"{', '.join(PIPELINE_CLASSES)}"
        )
    return PIPELINE_CLASSES[class_name]


def load_pipeline(name_or_path: str | os.PathLike, scheduler: str | None = None, **kwargs) -> ClassConditionalPipeline:
    """Load a class-conditional DDPM or DiT pipeline (a diffusers `DiTPipeline` directory too).

    `scheduler` swaps the sampler by name (ddpm, ddim, dpm-solver, euler) keeping the noise schedule;
    other keyword arguments go to `from_pretrained` (for example `torch_dtype`).
    """
    source = resolve(name_or_path, SHIPPED_PIPELINES, "pipeline")
    pipeline = pipeline_class_of(source).from_pretrained(source, **kwargs)
    if scheduler is not None:
        swap_scheduler(pipeline, scheduler)
    return pipeline


def training_record(name_or_path: str | os.PathLike) -> dict | None:
    """The train.json a pipeline was trained with (beside it or one folder up, as
    `scripts/train_reference_diffusion.py` writes it), or None where there is none (a hub model)."""
    try:
        folder = Path(resolve(name_or_path, SHIPPED_PIPELINES, "pipeline"))
    except ValueError:
        return None
    for candidate in (folder / "train.json", folder.parent / "train.json"):
        if candidate.is_file():
            return json.loads(candidate.read_text())
    return None


def swap_scheduler(pipeline: ClassConditionalPipeline, name: str) -> ClassConditionalPipeline:
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}: use one of {', '.join(SCHEDULERS)}")
    pipeline.scheduler = SCHEDULERS[name].from_config(pipeline.scheduler.config)
    return pipeline


def load_classifier(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> SmallCNN:
    source = resolve(name_or_path, SHIPPED_CLASSIFIERS, "classifier")
    return SmallCNN.from_pretrained(source).to(device).eval()


def save_dit_hub_layout(
    transformer: torch.nn.Module,
    vae: torch.nn.Module,
    scheduler,
    id2label: dict[int, str] | None,
    path: str | os.PathLike,
) -> None:
    """Save a DiT the way facebook/DiT-XL-2-256 is laid out on the hub, atomically.

    That is a diffusers `DiTPipeline` directory whose transformer config is the legacy
    `Transformer2DModel` (with `norm_type="ada_norm_zero"`) and whose `model_index.json` holds the
    (comma-separated) `id2label`: diffusers' own `DiTPipeline` and `load_pipeline` both load it.
    """
    from diffusers import DiTPipeline

    with atomic_directory(path) as tmp:
        DiTPipeline(transformer, vae, scheduler).save_pretrained(tmp)
        index = json.loads((tmp / "model_index.json").read_text())
        index["transformer"] = ["diffusers", "Transformer2DModel"]
        if id2label:
            index["id2label"] = {str(k): v for k, v in id2label.items()}
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2))
        config_file = tmp / "transformer" / "config.json"
        config = json.loads(config_file.read_text())
        config["_class_name"] = "Transformer2DModel"
        config.update(
            cross_attention_dim=None, num_vector_embeds=None, use_linear_projection=False, only_cross_attention=False
        )
        config_file.write_text(json.dumps(config, indent=2))
