"""Run by test_accelerate.py under `accelerate launch --num_processes 2`.

A tiny erase straight through, then the same erase interrupted at step 2 and resumed; each rank writes
the weight digest of both results.
"""

import hashlib
import sys
from pathlib import Path

import torch
from conftest import tiny_ddpm
from test_methods import tiny_sets

from gen_unlearn.erase import erase
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.methods.sfron import SFROn

out = Path(sys.argv[1])


def digest(pipe) -> str:
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in pipe.unet.parameters())).hexdigest()


def run(output: Path, resume: bool = False):
    training = TrainingConfig(steps=4, batch_size=4, checkpoint_every=1, resume=resume, progress=False, cpu=True)
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
