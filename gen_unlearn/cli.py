"""`gen-unlearn <command>`: a thin command line over the Python API."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .data import DatasetNotFoundError
from .evaluation import sample_images, save_samples
from .hub import SCHEDULERS, PipelineNotFoundError, load_pipeline
from .io import library_versions, write_json

# Errors that are the user's to fix: printed as one line, never as a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PipelineNotFoundError, DatasetNotFoundError)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def add_sampler_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, help="sampler steps (default: the pipeline's saved default)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the pipeline's)")
    parser.add_argument("--scheduler", choices=sorted(SCHEDULERS), help="swap the sampler (default: the pipeline's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--device", default=default_device())


def cmd_sample(args: argparse.Namespace) -> None:
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    start = time.time()
    pipeline = load_pipeline(args.pipeline, scheduler=args.scheduler).to(args.device)
    class_id = pipeline.class_id(args.class_label)
    loaded = time.time()
    images, labels = sample_images(
        pipeline, [class_id], args.num, args.guidance, args.steps, seed=args.seed, batch_size=args.batch_size
    )
    sampled = time.time()
    paths = save_samples(images, labels, args.output)
    write_json(
        Path(args.output) / "run.json",
        {
            "command": "sample",
            "pipeline": str(args.pipeline),
            "pipeline_class": type(pipeline).__name__,
            "class_id": class_id,
            "class_name": pipeline.class_names[class_id],
            "num_samples": args.num,
            "scheduler": type(pipeline.scheduler).__name__,
            "num_inference_steps": args.steps or pipeline.config.default_num_inference_steps,
            "guidance_scale": args.guidance if args.guidance is not None else pipeline.config.default_guidance_scale,
            "seed": args.seed,
            "device": args.device,
            "timings_s": {
                "load": round(loaded - start, 2),
                "sample": round(sampled - loaded, 2),
                "write": round(time.time() - sampled, 2),
            },
            "versions": library_versions(),
        },
    )
    print(f"wrote {len(paths)} samples of class {class_id} ({pipeline.class_names[class_id]}) to {args.output}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gen-unlearn", description="Make a class-conditional diffusion model forget a class."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="sample images of one class from a pipeline")
    sample.add_argument("pipeline", help="shipped name (mnist-ddpm, mnist-dit), local directory or hub id")
    sample.add_argument("--class", dest="class_label", required=True, help="class index or name")
    sample.add_argument("--num", type=int, default=16, help="number of images")
    sample.add_argument("--output", required=True, help="directory for the PNG files and run.json")
    add_sampler_options(sample)
    sample.set_defaults(run=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except USER_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"gen-unlearn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gen-unlearn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
