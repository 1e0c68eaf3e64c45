"""`erase`: make a class-conditional pipeline forget a class. The input pipeline is never modified."""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines import ClassConditionalPipeline

from .data import ForgetRemainSets, class_ids, dataset_of, forget_classes, real_forget_remain
from .denoiser import DenoisingObjective
from .io import atomic_directory, fingerprint_pipeline, library_versions, write_json
from .loop import Trainer, TrainingConfig
from .methods import METHODS, GenerativeUnlearner
from .replay import DataFreeConfig, data_free_forget_remain
from .settings import configured

RUN_RECORD = "run.json"


def method_config(method: str, **overrides: Any):
    """The method's hyperparameters: its defaults with `overrides` applied (unknown names are an error)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    return configured(METHODS[method].Config, method, overrides)


def training_copy(pipeline: ClassConditionalPipeline, device: torch.device) -> ClassConditionalPipeline:
    """A copy of `pipeline` on `device` whose denoiser can be trained without touching the input.

    The denoiser (and the scheduler, which sampling changes) are copied; a frozen module such as the
    VAE is shared when it is already on `device` (no second copy there), else copied onto it once.
    """
    erased = copy.copy(pipeline)
    for name, component in pipeline.components.items():
        frozen = isinstance(component, torch.nn.Module) and component is not pipeline.denoiser
        if frozen and same_device(next(component.parameters()).device, device):
            continue
        setattr(erased, name, copy.deepcopy(component))
    erased.to(device)
    erased.set_progress_bar_config(disable=True)
    return erased


def same_device(a: torch.device, b: torch.device) -> bool:
    a, b = torch.device(a), torch.device(b)
    index = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return a.type == b.type and (a.index if a.index is not None else index) == (
        b.index if b.index is not None else index
    )


def forget_remain_sets(
    pipeline: ClassConditionalPipeline,
    class_id: int | tuple[int, ...],
    data: ForgetRemainSets | str,
    dataset: str | None,
    data_root: str | os.PathLike | None,
    data_free: DataFreeConfig,
    seed: int,
    fingerprint: str,
    progress: bool,
) -> ForgetRemainSets:
    """The training data, streaming at the pipeline's image shape: given, real (a dataset or a folder) or drawn."""
    if isinstance(data, ForgetRemainSets):
        sets = data.with_shape(pipeline.image_shape)
    elif data == "data-free":
        sets = data_free_forget_remain(pipeline, class_id, data_free, seed, fingerprint, progress)
    elif data == "real":
        dataset = dataset_of(pipeline, dataset)
        sets = real_forget_remain(
            dataset, class_id, data_root, pipeline.image_shape, pipeline.labels, pipeline.num_classes
        )
    else:
        raise ValueError(f"data {data!r}: use 'data-free', 'real' or a ForgetRemainSets")
    if sets.forget_classes != forget_classes(class_id):
        raise ValueError(f"the data forgets class {sets.forget_class} but forget_class is {class_id}")
    missing = [c for c in sets.forget_classes if not np.any(sets.images.labels[sets.forget_indices] == c)]
    if missing:
        raise ValueError(f"the data has no sample of class {missing[0]}: check --dataset and --forget-class")
    if len(sets.remain_indices) == 0:
        raise ValueError("the data has no sample of any other class: the remain set is empty")
    return sets


def resolve_training(
    training: TrainingConfig | None, method: str, steps: int | None, seed: int, output_dir: str | os.PathLike | None
) -> TrainingConfig:
    training = copy.deepcopy(training) if training else TrainingConfig(steps=METHODS[method].default_steps)
    training.seed = seed
    if steps is not None:
        training.steps = steps
    if output_dir is not None:
        training.checkpoint_dir = f"{output_dir}.partial"
    return training


def erase(
    pipeline: ClassConditionalPipeline,
    forget_class: int | str | Sequence[int | str],
    method: str = "sfron",
    steps: int | None = None,
    data: ForgetRemainSets | str = "data-free",
    data_root: str | os.PathLike | None = None,
    dataset: str | None = None,
    seed: int = 0,
    training: TrainingConfig | None = None,
    output_dir: str | os.PathLike | None = None,
    data_free: DataFreeConfig | None = None,
    on_step: Callable[[int, float, ClassConditionalPipeline], None] | None = None,
    **method_settings: Any,
) -> ClassConditionalPipeline:
    """Return a copy of `pipeline` that no longer generates `forget_class` (one class, or several at once).

    Everything runs on the training device (`training.device`, else a GPU where there is one): the
    data-free samples, masks, Fisher information and the training itself. The denoiser is copied; a
    frozen module (the VAE) that is already on that device is shared with `pipeline`, never trained.

    Args:
        forget_class: class index or name, or several (a list, or "3,7"): every method erases them in one
            run, their samples together forming the forget set.
        method: one of `METHODS` (sfron, salun, sa, ga, rl, ft).
        steps: unlearning iterations (default: `training.steps`).
        data: "data-free" (the pipeline's own samples, cached), "real" (`dataset` under `data_root`:
            mnist, fashion-mnist, cifar10, or "imagefolder" for a folder of class folders), or prepared
            `ForgetRemainSets`. Images stream at the pipeline's image shape.
        training: loop settings (batch size, mixed precision, accumulation, checkpoints, device).
        output_dir: if given, the new pipeline is saved there (atomically) with `run.json`; checkpoints
            go to `<output_dir>.partial/` and a rerun with `training.resume=True` continues from them.
        data_free: budgets and sampler settings of the data-free samples (`DataFreeConfig`).
        on_step: called as `on_step(steps_done, train_seconds, erased)` after every step, with the pipeline
            being trained (live weights: copy what you keep); its time is not counted as training time.
        method_settings: the method's hyperparameters (see `METHODS[method].Config`).
    """
    timings: dict[str, float] = {}
    start = time.time()
    config = method_config(method, **method_settings)
    classes = class_ids(pipeline, forget_class)
    class_id = classes[0] if len(classes) == 1 else classes
    training = resolve_training(training, method, steps, seed, output_dir)
    data_free = data_free or DataFreeConfig()
    trainer = Trainer(training)
    fingerprint = fingerprint_pipeline(pipeline)  # the one hash of the run: cache key and record
    erased = training_copy(pipeline, trainer.device)
    timings["copy"] = time.time() - start

    t0 = time.time()
    with trainer.accelerator.main_process_first():  # the main process draws and caches; the others read
        sets = forget_remain_sets(
            erased, class_id, data, dataset, data_root, data_free, seed, fingerprint, training.progress
        )
    timings["data"] = time.time() - t0

    objective = DenoisingObjective(erased)
    unlearner: GenerativeUnlearner = METHODS[method](objective, sets, config, training, fingerprint, data_free)
    t0 = time.time()
    # masks and Fisher information (or the cache's), in the training precision, before the model is wrapped
    # for several processes: their backward passes must not synchronise gradients while the others wait
    with trainer.accelerator.autocast():
        unlearner.attach(trainer)
    timings["prepare"] = time.time() - t0
    trainer.prepare(objective.trainable, unlearner.make_optimizer(objective.trainable.parameters()))
    objective.forward_module = trainer.model
    history = trainer.run(
        unlearner.train_step,
        checkpointed=[unlearner],
        desc=f"erase ({method})",
        on_step=None if on_step is None else lambda done, seconds: on_step(done, seconds, erased),
    )
    timings["train"] = trainer.timings["train"]
    trainer.finish()
    objective.forward_module = None

    record = run_record(method, training, class_id, pipeline, sets, unlearner, fingerprint, trainer, history)
    if isinstance(data, str) and data == "data-free":
        record["data_free"] = asdict(data_free)
    save_erased(erased, record, timings, start, output_dir, trainer)
    erased.run_record = record
    return erased


def run_record(
    method: str,
    training: TrainingConfig,
    class_id: int | tuple[int, ...],
    pipeline: ClassConditionalPipeline,
    sets: ForgetRemainSets,
    unlearner: GenerativeUnlearner,
    fingerprint: str,
    trainer: Trainer,
    history: list[dict[str, float]],
) -> dict[str, Any]:
    """What `run.json` holds: the method, every setting, the data, the result's loss curve, versions."""
    skipped = unlearner.skipped_images()
    files = getattr(sets.images, "files", None)
    data = {**sets.describe(), "skipped_images": len(skipped)}
    if skipped and files is not None:
        data["skipped_files"] = [str(files[i]) for i in skipped[:100]]
    every = max(1, len(history) // 200)  # at most ~200 points of the loss curve, for plots
    return {
        "method": method,
        "settings": asdict(unlearner.config),  # as it ran: with what was left to the denoiser filled in
        "training": asdict(training),
        "forget_class": class_id if isinstance(class_id, int) else list(class_id),
        "forget_class_name": " + ".join(pipeline.class_names[c] for c in forget_classes(class_id)),
        "seed": training.seed,
        "data": data,
        "steps": training.steps,
        "input_pipeline": pipeline.config.get("_name_or_path") or None,  # where it was loaded from
        "input_pipeline_sha256": fingerprint,
        "pipeline_class": type(pipeline).__name__,
        "device": str(trainer.device),
        "num_processes": trainer.accelerator.num_processes,
        "loss_first": history[0] if history else {},
        "loss_last": history[-1] if history else {},
        "loss_history_every": every,
        "loss_history": history[::every],
        "versions": library_versions(),
    }


def save_erased(
    erased: ClassConditionalPipeline,
    record: dict[str, Any],
    timings: dict[str, float],
    start: float,
    output_dir: str | os.PathLike | None,
    trainer: Trainer,
) -> None:
    """Write the pipeline and `run.json` atomically (main process), then drop the checkpoints."""
    if output_dir is not None and trainer.accelerator.is_main_process:
        t0 = time.time()
        with atomic_directory(output_dir) as tmp:
            erased.save_pretrained(tmp)
            timings["save"] = time.time() - t0
            timings["total"] = time.time() - start
            record["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
            write_json(tmp / RUN_RECORD, record)
        partial = Path(f"{output_dir}.partial")
        if partial.exists():
            shutil.rmtree(partial)
    else:
        timings["total"] = time.time() - start
        record["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
