"""What the `gen-unlearn` commands share: devices, `--set` values, sampler and data-free options, the data choice.

Every command module imports from here (and nothing imports the command modules back).
`default_device` is re-exported from `loop`, where the library decides devices.
"""

from __future__ import annotations

import argparse
import json
import os

import torch

from .data import DATA_ROOT_ENV
from .hub import SCHEDULERS, SHIPPED_PIPELINES
from .loop import default_device
from .replay import DataFreeConfig


def check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA GPU is available on this machine, use --device cpu")
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a torch device: use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), use cuda:0..")
    return device


PIPELINE_HELP = f"shipped name ({', '.join(SHIPPED_PIPELINES)}), local directory or hub id"


def parse_setting(text: str) -> tuple[str, object]:
    """`name=value` with value read as JSON where it can be (numbers, true/false, null), else as a string."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: write it as name=value, for example --set forget_alpha=5")
    name, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.strip().replace("-", "_"), value


def add_sampler_options(parser: argparse.ArgumentParser, steps_flag: str = "--steps") -> None:
    parser.add_argument(steps_flag, dest="sampler_steps", type=int, help="sampler steps (default: the pipeline's)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the pipeline's)")
    parser.add_argument("--scheduler", choices=sorted(SCHEDULERS), help="swap the sampler (default: the pipeline's)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (sample j of class c: seed, c, j)")
    parser.add_argument("--batch-size", type=int, default=250, help="sampling batch size")
    parser.add_argument("--device", default=default_device())


def add_data_free_options(parser: argparse.ArgumentParser) -> None:
    """Budgets and sampler settings of the data-free samples (`DataFreeConfig`)."""
    defaults = DataFreeConfig()
    group = parser.add_argument_group("data-free samples (drawn from the pipeline on --device, cached)")
    group.add_argument("--data-free-forget", type=int, default=defaults.forget, help="samples of the forget class")
    group.add_argument(
        "--data-free-remain", type=int, default=defaults.remain, help="samples of the other classes, in all"
    )
    group.add_argument("--sampling-dtype", default=defaults.dtype, choices=["fp32", "bf16", "fp16"])
    group.add_argument("--sampling-steps", type=int, help="sampler steps (default: the pipeline's)")
    group.add_argument("--sampling-batch-size", type=int, default=defaults.batch_size, help="images sampled at once")


def data_free_config(args: argparse.Namespace) -> DataFreeConfig:
    return DataFreeConfig(
        forget=args.data_free_forget,
        remain=args.data_free_remain,
        num_inference_steps=args.sampling_steps,
        dtype=args.sampling_dtype,
        batch_size=args.sampling_batch_size,
    )


def training_data(args: argparse.Namespace) -> str:
    """ "real" when a data root is given (flag or environment) and --data-free is not, else "data-free"."""
    if args.data_root and args.data_free:
        raise ValueError("--data-root and --data-free exclude each other: pick one")
    if args.data_free or not (args.data_root or os.environ.get(DATA_ROOT_ENV)):
        return "data-free"
    if getattr(args, "dataset", None) == "imagefolder" and not args.data_root:
        raise ValueError("--dataset imagefolder needs --data-root DIR: a folder with one sub-folder per class")
    return "real"
