"""Run by test_accelerate.py under `accelerate launch --num_processes 2`: a tiny erase, a weight digest per rank."""

import hashlib
import sys
from pathlib import Path

import torch
from conftest import tiny_ddpm
from test_methods import tiny_sets

from gen_unlearn.erase import erase
from gen_unlearn.loop import TrainingConfig

out = Path(sys.argv[1])
pipe = tiny_ddpm()
training = TrainingConfig(steps=3, batch_size=4, progress=False, cpu=True)
erased = erase(pipe, 1, "sfron", data=tiny_sets(pipe), training=training, output_dir=out / "erased", fisher_batches=2)
rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in erased.unet.parameters())).hexdigest()
(out / f"rank{rank}.txt").write_text(digest)
