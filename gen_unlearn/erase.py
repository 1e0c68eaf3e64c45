"""`erase`: make a class-conditional pipeline forget a class. The input pipeline is never modified."""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from pipelines import ClassConditionalPipeline

from .data import ForgetRemainSets, real_forget_remain
from .denoiser import Denoiser
from .io import atomic_directory, fingerprint_pipeline, library_versions, write_json
from .loop import Trainer, TrainingConfig
from .methods import METHODS, GenerativeUnlearner
from .replay import data_free_forget_remain

RUN_RECORD = "run.json"


def method_config(method: str, **overrides: Any):
    """The method's hyperparameters: its defaults with `overrides` applied (unknown names are an error)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    config_cls = METHODS[method].Config
    known = {f.name: f for f in fields(config_cls)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"{method} has no setting {', '.join(unknown)}: its settings are {', '.join(known)}")
    return config_cls(**overrides)


def check_data_matches(pipeline: ClassConditionalPipeline, data: ForgetRemainSets) -> None:
    image_shape = tuple(data.remain_images.shape[1:])
    vae = getattr(pipeline, "vae", None)
    mismatch = image_shape[0] != vae.config.in_channels if vae is not None else image_shape != pipeline.latent_shape
    if mismatch:
        expected = f"{vae.config.in_channels}-channel" if vae is not None else "×".join(map(str, pipeline.latent_shape))
        raise ValueError(
            f"the data has {'×'.join(map(str, image_shape))} images but the pipeline makes {expected} images: "
            "use the pipeline's own dataset, or --data-free"
        )
    if len(data.forget_labels) == 0:
        raise ValueError(f"the data has no sample of class {data.forget_class}: check --dataset and --forget-class")


def erase(
    pipeline: ClassConditionalPipeline,
    forget_class: int | str,
    method: str = "sfron",
    steps: int | None = None,
    data: ForgetRemainSets | str = "data-free",
    data_root: str | os.PathLike | None = None,
    dataset: str = "mnist",
    seed: int = 0,
    training: TrainingConfig | None = None,
    output_dir: str | os.PathLike | None = None,
    data_free_per_class: int = 100,
    on_step: Callable[[int, float, ClassConditionalPipeline], None] | None = None,
    **method_settings: Any,
) -> ClassConditionalPipeline:
    """Return a copy of `pipeline` that no longer generates `forget_class`.

    Args:
        forget_class: class index or name.
        method: one of `METHODS` (sfron, salun, sa, ga, rl, ft).
        steps: unlearning iterations (default: `training.steps`).
        data: "data-free" (the pipeline's own samples, cached), "real" (`dataset` under `data_root`),
            or prepared `ForgetRemainSets`.
        training: loop settings (batch size, mixed precision, accumulation, checkpoints).
        output_dir: if given, the new pipeline is saved there (atomically) with `run.json`; checkpoints
            go to `<output_dir>.partial/` and a rerun with `training.resume=True` continues from them.
        on_step: called as `on_step(steps_done, train_seconds, erased)` after every step, with the pipeline
            being trained (live weights: copy what you keep); its time is not counted as training time.
        method_settings: the method's hyperparameters (see `METHODS[method].Config`).
    """
    timings: dict[str, float] = {}
    start = time.time()
    config = method_config(method, **method_settings)
    class_id = pipeline.class_id(forget_class)
    training = copy.deepcopy(training) if training else TrainingConfig(steps=METHODS[method].default_steps)
    training.seed = seed
    if steps is not None:
        training.steps = steps
    partial = Path(f"{output_dir}.partial") if output_dir is not None else None
    if partial is not None:
        training.checkpoint_dir = str(partial)

    fingerprint = fingerprint_pipeline(pipeline)
    erased = copy.deepcopy(pipeline)
    erased.set_progress_bar_config(disable=True)
    timings["copy"] = time.time() - start

    t0 = time.time()
    if isinstance(data, ForgetRemainSets):
        sets = data
    elif data == "data-free":
        sets = data_free_forget_remain(pipeline, class_id, data_free_per_class, seed=seed)
    elif data == "real":
        sets = real_forget_remain(dataset, class_id, data_root)
    else:
        raise ValueError(f"data {data!r}: use 'data-free', 'real' or a ForgetRemainSets")
    if sets.forget_class != class_id:
        raise ValueError(f"the data forgets class {sets.forget_class} but forget_class is {class_id}")
    check_data_matches(pipeline, sets)
    timings["data"] = time.time() - t0

    denoiser = Denoiser(erased)
    unlearner: GenerativeUnlearner = METHODS[method](denoiser, sets, config, training, fingerprint=fingerprint)
    trainer = Trainer(denoiser.model, unlearner.make_optimizer(denoiser.model.parameters()), training)
    erased.to(trainer.device)
    denoiser.network = trainer.model
    t0 = time.time()
    unlearner.attach(trainer)  # computes masks and Fisher information (or reads them from the cache)
    timings["prepare"] = time.time() - t0
    history = trainer.run(
        unlearner.step,
        unlearner.state_dict,
        unlearner.load_state_dict,
        desc=f"erase ({method})",
        on_step=None if on_step is None else lambda done, seconds: on_step(done, seconds, erased),
    )
    timings["train"] = trainer.timings["train"]
    trainer.finish()
    denoiser.network = None

    record = {
        "method": method,
        "settings": asdict(config),
        "training": asdict(training),
        "forget_class": class_id,
        "forget_class_name": pipeline.class_names[class_id],
        "seed": seed,
        "data": sets.describe(),
        "steps": training.steps,
        "input_pipeline_sha256": fingerprint,
        "pipeline_class": type(pipeline).__name__,
        "device": str(trainer.device),
        "num_processes": trainer.accelerator.num_processes,
        "loss_first": history[0] if history else {},
        "loss_last": history[-1] if history else {},
        # at most ~200 points of the loss curve, for plots: every `loss_history_every`-th step
        "loss_history_every": max(1, len(history) // 200),
        "loss_history": history[:: max(1, len(history) // 200)],
        "versions": library_versions(),
    }
    if output_dir is not None and trainer.accelerator.is_main_process:
        t0 = time.time()
        with atomic_directory(output_dir) as tmp:
            erased.save_pretrained(tmp)
            timings["save"] = time.time() - t0
            timings["total"] = time.time() - start
            record["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
            write_json(tmp / RUN_RECORD, record)
        if partial is not None and partial.exists():
            shutil.rmtree(partial)
    else:
        timings["total"] = time.time() - start
        record["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    erased.run_record = record
    return erased
