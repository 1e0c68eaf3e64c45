"""Run by test_accelerate.py under `accelerate launch --num_processes 2`.

A tiny erase straight through, then the same erase interrupted at step 2 and resumed; each rank writes
the weight digest of both results.
"""

import hashlib
import sys
from pathlib import Path

import torch
from conftest import tiny_ddpm, tiny_sets

from gen_unlearn.erasure import erase
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.methods.sfron import SFROn

out = Path(sys.argv[1])


def digest(pipe) -> str:
    return hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in pipe.unet.parameters())).hexdigest()


def run(output: Path, resume: bool = False):
    training = TrainingConfig(steps=4, batch_size=4, checkpoint_every=1, resume=resume, progress=False, device="cpu")
    pipe = tiny_ddpm()
    return erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, output_dir=output, fisher_batches=2)


straight = run(out / "erased")
rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0  # set up by the first erase

original_step = SFROn.step


def crash_at_step_two(self, step):
    if step == 2:
        raise KeyboardInterrupt
    return original_step(self, step)


SFROn.step = crash_at_step_two
try:
    run(out / "resumed")
except KeyboardInterrupt:
    pass
SFROn.step = original_step
resumed = run(out / "resumed", resume=True)
(out / f"rank{rank}.txt").write_text(f"{digest(straight)} {digest(resumed)}")

# Data-free samples, SA's replay and its Fisher information are made once, by the main process, and shared.
import gen_unlearn.replay as replay  # noqa: E402
from gen_unlearn.methods.sa import SelectiveAmnesia  # noqa: E402

made = {"samples": 0, "fisher": 0}
original_sample_counts, original_fisher = replay.sample_counts, SelectiveAmnesia._fisher


def counting_sample_counts(*args, **kwargs):
    made["samples"] += 1
    return original_sample_counts(*args, **kwargs)


def counting_fisher(self, images):
    made["fisher"] += 1
    return original_fisher(self, images)


replay.sample_counts, SelectiveAmnesia._fisher = counting_sample_counts, counting_fisher
erase(
    tiny_ddpm(),
    1,
    "sa",
    data="data-free",
    seed=4321,  # settings no other test uses: nothing of this run is in the cache yet
    data_free=replay.DataFreeConfig(forget=2, remain=4, num_inference_steps=2),
    training=TrainingConfig(steps=1, batch_size=2, progress=False, device="cpu"),
    replay_samples=4,
    fisher_samples=2,
    fisher_timesteps=4,
)
(out / f"made{rank}.txt").write_text(f"{made['samples']} {made['fisher']}")
