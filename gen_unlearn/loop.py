"""The one training loop every unlearner runs in.

accelerate does devices, processes and mixed precision; this module adds what unlearning needs on top:
optimizer steps that take a mask (applied after gradients are synchronised, before clipping), gradient
accumulation, atomic checkpoints (accelerate's `save_state` / `load_state`) every N steps with `resume`,
a progress bar showing the loss terms, and the timings that go into the run record.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from tqdm.auto import tqdm

from .saliency import Mask, mask_gradients

CHECKPOINT_NAME = "checkpoint"  # a folder written by accelerate's save_state


def default_device() -> str:
    """A GPU where there is one, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class TrainingConfig:
    """Settings of the loop itself (each method has its own hyperparameters)."""

    steps: int = 50
    batch_size: int = 64
    seed: int = 0
    mixed_precision: str = "no"  # "no", "bf16" or "fp16" (fp16 needs a GPU)
    gradient_accumulation_steps: int = 1
    checkpoint_every: int = 0  # 0: only at the end
    checkpoint_dir: str | None = None
    resume: bool = False
    progress: bool = True
    device: str | None = None  # "cpu", "cuda", "cuda:N"; None: accelerate's choice (a GPU where there is one)
    num_workers: int | None = None  # DataLoader workers per stream; None: the dataset's own (0 for arrays)

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be 0 or more, got {self.steps}")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch size and gradient accumulation steps must be at least 1")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed precision {self.mixed_precision!r}: use no, bf16 or fp16")


def runs_on(current: torch.device, requested: torch.device | None) -> bool:
    """Whether accelerate's device is the one asked for (None: the machine's accelerator where it has one, as
    accelerate picks it, else the CPU)."""
    if requested is None:
        requested = torch.accelerator.current_accelerator(check_available=True) or torch.device("cpu")
    if current.type != requested.type:
        return False
    return requested.index is None or current.index == requested.index


def _new_accelerator(config: TrainingConfig) -> Accelerator:
    device = torch.device(config.device) if config.device else None
    cpu = device is not None and device.type == "cpu"
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1  # by accelerate launch: several processes
    if device is not None and device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {config.device}: no CUDA GPU is available on this machine, use cpu")
        if device.index is not None and not launched:
            torch.cuda.set_device(device)  # accelerate trains on the current CUDA device
    try:
        accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=cpu)
        if runs_on(accelerator.device, device):
            return accelerator
    except ValueError as error:
        if "already been initialized" not in str(error):
            raise
    # accelerate keeps one global state per process, device included: a second run in the same process with
    # other settings (bf16 after fp32, the CPU after a GPU or back) starts it afresh. Without the reset a run
    # asked onto the CPU after a GPU run trains on the GPU (seen on an H200). A launched run's process group
    # (WORLD_SIZE > 1) is kept.
    AcceleratorState._reset_state(reset_partial_state=not launched)
    return Accelerator(mixed_precision=config.mixed_precision, cpu=cpu)


class Progress:
    """The loop's own resumable state: steps done, training seconds, loss history (a checkpointed object)."""

    def __init__(self, num_processes: int):
        self.step, self.elapsed, self.history, self.num_processes = 0, 0.0, [], num_processes

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "history": self.history,
            "num_processes": self.num_processes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_processes"] != self.num_processes:
            raise ValueError(
                f"the checkpoint was written by {state['num_processes']} processes, this run has "
                f"{self.num_processes}: resume with the same number of processes or start afresh"
            )
        self.step, self.elapsed, self.history = state["step"], state["elapsed"], list(state["history"])


class Trainer:
    """Holds the accelerator (and so the device), the prepared model and optimizer, and runs a method's steps.

    Made before the model so that everything done before training (sampling, masks) happens on its
    `device`; `prepare` then hands it the model and optimizer.
    """

    def __init__(self, config: TrainingConfig):
        if config.mixed_precision == "fp16" and (config.device == "cpu" or not torch.cuda.is_available()):
            raise ValueError("fp16 mixed precision needs a GPU: use --mixed-precision bf16 or no on the CPU")
        self.config = config
        self.accelerator = _new_accelerator(config)
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.timings: dict[str, float] = {}

    def prepare(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Trainer:
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        return self

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def unwrapped_model(self) -> torch.nn.Module:
        return self.accelerator.unwrap_model(self.model)

    def optimizer_step(
        self, micro_loss: Callable[[], torch.Tensor], mask: Mask | None = None, max_grad_norm: float | None = None
    ) -> float:
        """One optimizer step on the mean of `gradient_accumulation_steps` calls of `micro_loss`.

        Each call draws its own batch. Gradients are synchronised across processes on the last
        backward only; then the mask zeroes what may not move, then the norm is clipped.
        Returns the loss (mean over micro-batches).
        """
        k = self.config.gradient_accumulation_steps
        total = 0.0
        for i in range(k):
            sync = nullcontext() if i == k - 1 else self.accelerator.no_sync(self.model)
            with sync, self.accelerator.autocast():
                loss = micro_loss() / k
            self.accelerator.backward(loss)
            total += loss.item()
        mask_gradients(self.unwrapped_model, mask)
        if max_grad_norm is not None:
            self.accelerator.clip_grad_norm_(self.model.parameters(), max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def finish(self) -> torch.nn.Module:
        """The plain module again (accelerate's mixed-precision forward wrapper removed)."""
        return self.accelerator.unwrap_model(self.model, keep_fp32_wrapper=False)

    # -- checkpoints --------------------------------------------------------------------------

    def checkpoint_path(self) -> Path | None:
        return Path(self.config.checkpoint_dir) / CHECKPOINT_NAME if self.config.checkpoint_dir else None

    def save_checkpoint(self) -> None:
        """accelerate's `save_state` (model, optimizer, RNG of every process, the registered objects), atomically.

        Every process writes into a temporary folder beside the checkpoint; the main process then swaps
        it in, so an interruption at any point leaves the previous checkpoint whole.
        """
        path = self.checkpoint_path()
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.tmp")
        if self.accelerator.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(tmp))
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            old = path.with_name(f".{path.name}.old")
            if path.exists():
                path.rename(old)
            tmp.rename(path)
            if old.exists():
                shutil.rmtree(old)
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self) -> bool:
        path = self.checkpoint_path()
        if path is None or not self.config.resume or not path.exists():
            return False
        self.accelerator.load_state(str(path))
        return True

    def run(
        self,
        step_fn: Callable[[int], dict[str, float]],
        checkpointed: Sequence[Any] = (),
        desc: str = "unlearning",
        on_step: Callable[[int, float], None] | None = None,
    ) -> list[dict[str, float]]:
        """Call `step_fn(step)` for every remaining step; checkpoint as configured.

        `checkpointed` objects (with `state_dict` / `load_state_dict`, such as a method's batch streams)
        are saved with every checkpoint and restored on resume. `on_step(steps_done, train_seconds)` runs
        after each step (to snapshot or log); the time it takes is not counted as training time.
        """
        progress = Progress(self.accelerator.num_processes)
        self.accelerator.register_for_checkpointing(progress, *checkpointed)
        self.load_checkpoint()
        history = progress.history
        start = time.time() - progress.elapsed
        self.unwrapped_model.train()
        bar = tqdm(
            total=self.config.steps,
            initial=progress.step,
            desc=desc,
            disable=not (self.config.progress and self.accelerator.is_main_process),
        )
        for step in range(progress.step, self.config.steps):
            terms = step_fn(step)
            history.append(terms)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in terms.items()})
            every = self.config.checkpoint_every
            if every and (step + 1) % every == 0 and step + 1 < self.config.steps:
                progress.step, progress.elapsed = step + 1, time.time() - start
                self.save_checkpoint()
            if on_step is not None:
                called = time.time()
                on_step(step + 1, called - start)
                start += time.time() - called
        bar.close()
        self.unwrapped_model.eval()
        self.timings["train"] = time.time() - start
        return history
