"""`gen-unlearn sample | erase`: the commands that draw from a pipeline and erase a class from it."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from .cli_common import (
    PIPELINE_HELP,
    add_data_free_options,
    add_sampler_options,
    check_device,
    data_free_config,
    default_device,
    parse_setting,
    training_data,
)
from .hub import load_pipeline
from .io import library_versions, write_json
from .sampling import sample_images, save_samples

logger = logging.getLogger("gen_unlearn.cli")


def cmd_sample(args: argparse.Namespace) -> None:
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    start = time.time()
    device = check_device(args.device)
    pipeline = load_pipeline(args.pipeline, scheduler=args.scheduler).to(device)
    class_id = pipeline.class_id(args.class_label)
    loaded = time.time()
    images, labels = sample_images(
        pipeline, [class_id], args.num, args.guidance, args.sampler_steps, seed=args.seed, batch_size=args.batch_size
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
            "num_inference_steps": args.sampler_steps or pipeline.config.default_num_inference_steps,
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


def cmd_erase(args: argparse.Namespace) -> None:
    from .erasure import RUN_RECORD, erase
    from .loop import TrainingConfig
    from .methods import METHODS

    output = Path(args.output)
    source = Path(str(args.pipeline)).expanduser()
    if source.exists() and output.resolve() == source.resolve():
        raise ValueError("--output is the input pipeline: erase never overwrites its input, choose another folder")
    partial = Path(f"{output}.partial")
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise ValueError(f"{output} already exists: pass --overwrite to replace it, or choose another --output")
    if partial.exists() and not args.resume:
        raise ValueError(f"{partial} holds an interrupted run: pass --resume to continue it, or delete it")
    data = training_data(args)
    settings = dict(parse_setting(item) for item in args.set or [])
    device = check_device(args.device)
    data_free = data_free_config(args)
    pipeline = load_pipeline(args.pipeline)  # stays where it is loaded: erase trains a copy on --device
    training = TrainingConfig(
        steps=args.steps if args.steps is not None else METHODS.get(args.method, METHODS["sfron"]).default_steps,
        batch_size=args.batch_size,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.grad_accum,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        device=device,
        num_workers=args.num_workers,
    )
    logger.info("erasing class %s from %s with %s (%s data)", args.forget_class, args.pipeline, args.method, data)
    erased = erase(
        pipeline,
        args.forget_class,
        method=args.method,
        data=data,
        data_root=args.data_root,
        dataset=args.dataset,
        seed=args.seed,
        training=training,
        output_dir=output,
        data_free=data_free,
        **settings,
    )
    record = erased.run_record
    print(
        f"wrote {output} ({record['method']}, class {record['forget_class']} '{record['forget_class_name']}', "
        f"{record['steps']} steps in {record['timings_s']['train']:.0f} s); record in {output / RUN_RECORD}"
    )


def add_erase_commands(commands: argparse._SubParsersAction, helps: dict[str, str]) -> None:
    """`sample` and `erase`, with the one-line help the command list gives them."""
    sample = commands.add_parser("sample", help=helps["sample"])
    sample.add_argument("pipeline", help=PIPELINE_HELP)
    sample.add_argument("--class", dest="class_label", required=True, help="class index or name")
    sample.add_argument("--num", type=int, default=16, help="number of images")
    sample.add_argument("--output", required=True, help="directory for the PNG files and run.json")
    add_sampler_options(sample)
    sample.set_defaults(run=cmd_sample)

    erase = commands.add_parser("erase", help=helps["erase"])
    erase.add_argument("pipeline", help=PIPELINE_HELP)
    erase.add_argument("--forget-class", required=True, help="class index or name; several at once: 3,7")
    erase.add_argument("--method", default="sfron", help="sfron, salun, sa, ga, rl or ft (default sfron)")
    erase.add_argument("--steps", type=int, help="unlearning iterations (default: the method's)")
    erase.add_argument("--data-root", help="train on the real dataset (or image folder) under this root")
    erase.add_argument("--data-free", action="store_true", help="train on the pipeline's own samples (cached)")
    erase.add_argument(
        "--dataset",
        help="with --data-root: mnist, fashion-mnist, cifar10, or imagefolder (one sub-folder of images per class, "
        "named by class index or name, or ImageNet's sorted wnids); images are fitted to the pipeline's size. "
        "Default: the dataset whose class names the pipeline carries, else mnist",
    )
    erase.add_argument("--num-workers", type=int, help="DataLoader workers (default: 0 for arrays, 8 for folders)")
    add_data_free_options(erase)
    erase.add_argument("--set", action="append", metavar="NAME=VALUE", help="a method setting, e.g. forget_alpha=5")
    erase.add_argument("--seed", type=int, default=0)
    erase.add_argument("--batch-size", type=int, default=64)
    erase.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    erase.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    erase.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint every N steps (0: never)")
    erase.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    erase.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    erase.add_argument("--device", default=default_device())
    erase.add_argument("--output", required=True, help="directory for the new pipeline and run.json")
    erase.set_defaults(run=cmd_erase)
