"""The one training loop every unlearner runs in.

accelerate does devices, processes and mixed precision; this module adds what unlearning needs on top:
optimizer steps that take a mask (applied after gradients are synchronised, before clipping), gradient
accumulation, atomic checkpoints every N steps with `resume`, a progress bar showing the loss terms,
and the timings that go into the run record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from tqdm.auto import tqdm

from .io import load_torch, save_torch
from .saliency import Mask, mask_gradients

CHECKPOINT_NAME = "checkpoint.pt"


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
    cpu: bool = False  # force the CPU even where a GPU is available

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be 0 or more, got {self.steps}")
        if self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch size and gradient accumulation steps must be at least 1")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed precision {self.mixed_precision!r}: use no, bf16 or fp16")


def _new_accelerator(config: TrainingConfig) -> Accelerator:
    try:
        return Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu)
    except ValueError as error:
        if "already been initialized" not in str(error):
            raise
    # accelerate keeps one global state per process; a second run in the same process with other
    # settings (say bf16 after fp32) starts it afresh. The process group, if any, is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu)


class Trainer:
    """Holds the accelerator, the (prepared) model and optimizer, and runs a method's steps."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, config: TrainingConfig):
        if config.mixed_precision == "fp16" and (config.cpu or not torch.cuda.is_available()):
            raise ValueError("fp16 mixed precision needs a GPU: use --mixed-precision bf16 or no on the CPU")
        self.config = config
        self.accelerator = _new_accelerator(config)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.timings: dict[str, float] = {}

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

    def process_state_path(self, rank: int) -> Path:
        return self.checkpoint_path().with_name(f"process_{rank}.pt")

    def save_checkpoint(self, step: int, extra: dict[str, Any], process_state: dict[str, Any]) -> None:
        """Weights and optimizer from the main process; `process_state` (data order, RNG) from every process.

        Each process draws its own batches and noise, so each keeps its own random state; the main
        checkpoint is written last, after every process has written its part.
        """
        path = self.checkpoint_path()
        if path is None:
            return
        rank = self.accelerator.process_index
        if rank:
            save_torch(process_state, self.process_state_path(rank))
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            save_torch(
                {
                    "step": step,
                    "model": self.unwrapped_model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "config": asdict(self.config),
                    "num_processes": self.accelerator.num_processes,
                    **extra,
                    **process_state,
                },
                path,
            )

    def load_checkpoint(self) -> dict[str, Any] | None:
        path = self.checkpoint_path()
        if path is None or not self.config.resume or not path.exists():
            return None
        state = load_torch(path, map_location="cpu")  # load_state_dict moves tensors to the parameters' device
        saved_by = state.get("num_processes", 1)
        if saved_by != self.accelerator.num_processes:
            raise ValueError(
                f"the checkpoint in {path.parent} was written by {saved_by} processes, this run has "
                f"{self.accelerator.num_processes}: resume with the same number of processes or start afresh"
            )
        rank = self.accelerator.process_index
        if rank:
            state.update(load_torch(self.process_state_path(rank), map_location="cpu"))
        self.unwrapped_model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        return state

    def run(
        self,
        step_fn: Callable[[int], dict[str, float]],
        state_fn: Callable[[], dict[str, Any]],
        load_state_fn: Callable[[dict[str, Any]], None],
        desc: str = "unlearning",
        on_step: Callable[[int, float], None] | None = None,
    ) -> list[dict[str, float]]:
        """Call `step_fn(step)` for every remaining step; checkpoint `state_fn()` as configured.

        `on_step(steps_done, train_seconds)` runs after each step (to snapshot or log); the time it takes
        is not counted as training time.
        """
        history: list[dict[str, float]] = []
        start_step, elapsed = 0, 0.0
        state = self.load_checkpoint()
        if state is not None:
            start_step, elapsed, history = state["step"], state.get("elapsed", 0.0), list(state.get("history", []))
            load_state_fn(state)
        start = time.time() - elapsed
        self.unwrapped_model.train()
        bar = tqdm(
            total=self.config.steps,
            initial=start_step,
            desc=desc,
            disable=not (self.config.progress and self.accelerator.is_main_process),
        )
        for step in range(start_step, self.config.steps):
            terms = step_fn(step)
            history.append(terms)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in terms.items()})
            every = self.config.checkpoint_every
            if every and (step + 1) % every == 0 and step + 1 < self.config.steps:
                self.save_checkpoint(step + 1, {"elapsed": time.time() - start, "history": history}, state_fn())
            if on_step is not None:
                called = time.time()
                on_step(step + 1, called - start)
                start += time.time() - called
        bar.close()
        self.unwrapped_model.eval()
        self.timings["train"] = time.time() - start
        return history
