"""`gen-unlearn evaluate | grid | bench`: the evaluation commands, thin over `gen_unlearn.evaluation`."""

from __future__ import annotations

import argparse
import shutil
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
from .data import DATA_ROOT_ENV
from .evaluation.classifiers import DEFAULT_CLASSIFIER_HELP
from .evaluation.features import DEFAULT_RESIZE, INCEPTION_ENV, RESIZE_METHODS, InceptionNetwork
from .evaluation.fid import BACKENDS, check_backends
from .evaluation.report import DEFAULT_NUM_SAMPLES, FID_FEATURES
from .hub import load_pipeline
from .io import write_json

BENCH_NUM_SAMPLES = 100
BENCH_BACKENDS = ("torch-fidelity",)  # one backend per point keeps a bench affordable on a CPU


def parse_backends(text: str) -> tuple[str, ...]:
    return () if text.strip().lower() in ("", "none") else check_backends(text.split(","))


def add_evaluation_options(
    parser: argparse.ArgumentParser, num_samples: int, backends: tuple[str, ...] = BACKENDS
) -> None:
    parser.add_argument(
        "--num-samples", type=int, default=num_samples, help=f"samples per class (default {num_samples})"
    )
    parser.add_argument(
        "--classifier",
        default=None,
        help="judges the samples: shipped name, SmallCNN directory, TorchScript file or "
        f"torchvision:MODEL[:WEIGHTS] (default: {DEFAULT_CLASSIFIER_HELP})",
    )
    parser.add_argument(
        "--class-map",
        metavar="JSON",
        help="for a classifier with other classes: {pipeline class: classifier index or list}; unmapped = none",
    )
    parser.add_argument(
        "--dataset",
        help="real images for FID: mnist, fashion-mnist, cifar10 or imagefolder (default: the one whose class names "
        "the pipeline carries, else mnist)",
    )
    parser.add_argument("--data-root", help=f"where the dataset is (default ${DATA_ROOT_ENV})")
    parser.add_argument("--reference-split", default="test", choices=["test", "train"], help="(default test)")
    parser.add_argument("--reference-per-class", type=int, help="real images per class (default: all of the split)")
    parser.add_argument(
        "--remain-classes", type=int, help="evaluate K of the remaining classes, a seeded choice (default: all)"
    )
    parser.add_argument(
        "--reference-stats", metavar="NPZ", help="precomputed FID statistics (mu, sigma) instead of reference images"
    )
    parser.add_argument(
        "--fid-backends",
        type=parse_backends,
        default=backends,
        help=f"comma-separated from {', '.join(BACKENDS)}, or none (default {','.join(backends)})",
    )
    parser.add_argument(
        "--fid-features",
        default="shared",
        choices=FID_FEATURES,
        help="shared: one Inception pass for all backends (default); separate: each backend's own (cross-check)",
    )
    parser.add_argument("--inception", help=f"the FID Inception TorchScript file (default ${INCEPTION_ENV})")
    parser.add_argument("--resize", default=DEFAULT_RESIZE, choices=sorted(RESIZE_METHODS), help="resize to 299")
    parser.add_argument("--domain-fid", action="store_true", help="also FD on classifier features (not Inception)")
    parser.add_argument("--feature-batch-size", type=int, default=50)


def evaluation_kwargs(args: argparse.Namespace) -> dict:
    """The `evaluate` keyword arguments of the shared options; the Inception file is loaded first to fail fast."""
    if args.num_samples < 1:
        raise ValueError(f"--num-samples must be at least 1, got {args.num_samples}")
    inception = InceptionNetwork(args.inception, args.resize) if args.fid_backends else None
    return {
        "num_samples": args.num_samples,
        "classifier": args.classifier,
        "class_map": args.class_map,
        "dataset": args.dataset,
        "data_root": args.data_root,
        "reference_split": args.reference_split,
        "reference_per_class": args.reference_per_class,
        "reference_stats": args.reference_stats,
        "remain_classes": args.remain_classes,
        "fid_backends": args.fid_backends,
        "fid_features": args.fid_features,
        "inception": inception,
        "resize": args.resize,
        "domain_fid": args.domain_fid,
        "num_inference_steps": args.sampler_steps,
        "guidance_scale": args.guidance,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "feature_batch_size": args.feature_batch_size,
    }


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation.report import evaluate

    device = check_device(args.device)
    kwargs = evaluation_kwargs(args)
    pipeline = load_pipeline(args.pipeline, scheduler=args.scheduler).to(device)
    report = evaluate(
        pipeline, args.forget_class, samples_dir=args.save_samples, pipeline_name=str(args.pipeline), **kwargs
    )
    report.protocol["command"] = "evaluate"
    report.save(args.output)
    print(report.table())
    print(f"wrote {args.output}")


def cmd_grid(args: argparse.Namespace) -> None:
    from .evaluation.grid import class_grid

    device = check_device(args.device)
    names = [args.pipeline, *(args.compare or [])]
    labels = args.labels or [Path(str(n).rstrip("/")).name or str(n) for n in names]
    if len(labels) != len(names):
        raise ValueError(f"--labels has {len(labels)} names for {len(names)} pipelines")
    pipelines = [load_pipeline(n, scheduler=args.scheduler).to(device) for n in names]
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    grid = class_grid(
        pipelines,
        labels,
        num_per_class=args.num_per_class,
        classes=classes,
        forget_class=args.forget_class,
        seed=args.seed,
        num_inference_steps=args.sampler_steps,
        guidance_scale=args.guidance,
        scale=args.scale,
        batch_size=args.batch_size,
    )
    grid.protocol["sources"] = [str(n) for n in names]
    grid.save(args.output)
    sidecar = Path(args.output).with_suffix(".json")
    write_json(sidecar, grid.protocol)
    print(f"wrote {args.output} ({grid.image.width}×{grid.image.height}) and {sidecar}")


def cmd_bench(args: argparse.Namespace) -> None:
    from .evaluation.bench import PLOTS, bench
    from .loop import TrainingConfig

    device = check_device(args.device)
    data = training_data(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    settings: dict[str, dict] = {m: {} for m in methods}
    for item in args.set or []:
        name, value = parse_setting(item)
        target, _, name = name.rpartition(".")
        for method in [target] if target else methods:
            if method not in settings:
                raise ValueError(f"--set {item!r}: {method} is not one of --methods ({', '.join(methods)})")
            settings[method][name] = value
    kwargs = evaluation_kwargs(args)
    del kwargs["dataset"], kwargs["data_root"], kwargs["seed"]  # bench passes them to erase and evaluate
    pipeline = load_pipeline(args.pipeline, scheduler=args.scheduler).to(device)
    retrained = load_pipeline(args.retrained, scheduler=args.scheduler).to(device) if args.retrained else None
    training = TrainingConfig(batch_size=args.train_batch_size, device=device)  # steps: bench's, per method
    result = bench(
        pipeline,
        args.forget_class,
        methods,
        args.steps,
        args.output,
        retrained=retrained,
        data=data,
        data_root=args.data_root,
        dataset=args.dataset,
        seed=args.seed,
        training=training,
        method_settings=settings,
        data_free=data_free_config(args),
        pipeline_name=str(args.pipeline),
        **kwargs,
    )
    print(result.table())
    if retrained is not None:
        last = {row.method: row.steps for row in result.rows}  # each method's last listed step
        reached = [f"{m} {s if s is not None else f'not by {last[m]}'}" for m, s in result.steps_to_target().items()]
        print(f"steps to FA ≤ 1% at a FID ratio to the retrained model ≤ 1.05: {', '.join(reached)}")
    print(f"wrote results.csv, results.json and {', '.join(PLOTS)} to {args.output}")


def numbers(text: str, kind: type = float) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers separated by commas, e.g. 0,1,2") from None


def cmd_audit(args: argparse.Namespace) -> None:
    from .evaluation.audit import AuditConfig, audit

    device = check_device(args.device)
    config = AuditConfig(
        num_samples=args.num_samples,
        guidance_scales=args.guidance_scales,
        relearn_images=args.relearn_images,
        relearn_steps=args.relearn_steps,
        remain_classes=args.remain_classes,
        num_inference_steps=args.sampler_steps,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    roles = {"erased": args.pipeline, "original": args.original, "retrained": args.retrained}
    partial = f"{args.output}.partial"  # each pipeline's figures as soon as they are measured: a rerun resumes
    loaded = {role: load_pipeline(src, scheduler=args.scheduler).to(device) for role, src in roles.items() if src}
    report = audit(
        loaded["erased"], args.forget_class, loaded.get("original"), loaded.get("retrained"),
        classifier=args.classifier, class_map=args.class_map, dataset=args.dataset, data_root=args.data_root,
        config=config, names={role: str(src) for role, src in roles.items() if src}, resume_dir=partial,
    )  # fmt: skip
    report.save(args.output)
    shutil.rmtree(partial, ignore_errors=True)
    print(report.table())
    print(f"wrote {args.output}")


def cmd_report(args: argparse.Namespace) -> None:
    from .evaluation.html_report import write_report

    device = check_device(args.device)
    path = write_report(
        args.runs, args.output, grids=not args.no_grids, num_per_class=args.num_per_class, device=device
    )
    print(f"wrote {path}")


def add_report_command(commands: argparse._SubParsersAction, helps: dict[str, str]) -> None:
    report = commands.add_parser("report", help=helps["report"])
    report.add_argument("runs", nargs="+", metavar="RUN_DIR", help="erase, evaluate, audit or bench outputs")
    report.add_argument("--output", required=True, help="the HTML file")
    report.add_argument("--no-grids", action="store_true", help="do not draw before/after grids of erased pipelines")
    report.add_argument("--num-per-class", type=int, default=4, help="grid samples per class (default 4)")
    report.add_argument("--device", default=default_device())
    report.set_defaults(run=cmd_report)


def add_audit_command(commands: argparse._SubParsersAction, helps: dict[str, str], where: str) -> None:
    audit = commands.add_parser("audit", help=helps["audit"])
    audit.add_argument("pipeline", help=f"the erased pipeline: {where}")
    audit.add_argument("--forget-class", required=True, help="class index or name; several: 3,7")
    audit.add_argument("--original", help="the pipeline before erasing: its figures go beside the erased one's")
    audit.add_argument("--retrained", help="a pipeline trained without the class: the relearning baseline")
    audit.add_argument("--num-samples", type=int, default=100, help="samples per class and setting (default 100)")
    audit.add_argument("--guidance-scales", type=numbers, default=(0.0, 1.0, 2.0, 4.0, 8.0), help="default 0,1,2,4,8")
    audit.add_argument("--relearn-images", type=lambda t: numbers(t, int), default=(10, 100), help="default 10,100")
    audit.add_argument(
        "--relearn-steps", type=lambda t: numbers(t, int), default=(10, 50, 100, 250), help="default 10,50,100,250"
    )
    audit.add_argument("--remain-classes", type=int, help="other-label leakage on K labels, seeded (default: all)")
    audit.add_argument("--classifier", help=f"judges the samples (default: {DEFAULT_CLASSIFIER_HELP})")
    audit.add_argument("--class-map", metavar="JSON", help="for a classifier with other classes")
    audit.add_argument(
        "--dataset", help="real images for the attack: mnist, fashion-mnist, ... (default: the pipeline's)"
    )
    audit.add_argument("--data-root", help=f"where the dataset is (default ${DATA_ROOT_ENV})")
    add_sampler_options(audit, steps_flag="--sampler-steps")
    audit.add_argument("--output", required=True, help="the JSON report")
    audit.set_defaults(run=cmd_audit)


def add_evaluation_commands(commands: argparse._SubParsersAction, helps: dict[str, str]) -> None:
    """Add `evaluate`, `grid`, `bench` and `audit` to the `gen-unlearn` subcommands, with the list's help."""
    where = PIPELINE_HELP

    evaluate = commands.add_parser("evaluate", help=helps["evaluate"])
    evaluate.add_argument("pipeline", help=where)
    evaluate.add_argument("--forget-class", required=True, help="class index or name; several: 3,7")
    add_evaluation_options(evaluate, DEFAULT_NUM_SAMPLES)
    add_sampler_options(evaluate)
    evaluate.add_argument("--save-samples", metavar="DIR", help="also write every sample as PNG to DIR")
    evaluate.add_argument("--output", required=True, help="the JSON report")
    evaluate.set_defaults(run=cmd_evaluate)

    grid = commands.add_parser("grid", help=helps["grid"])
    grid.add_argument("pipeline", help=where)
    grid.add_argument("--compare", nargs="+", metavar="OTHER", help="more pipelines to draw beside it")
    grid.add_argument("--labels", nargs="+", help="a name per pipeline (default: their folder names)")
    grid.add_argument("--forget-class", help="class to mark (index or name)")
    grid.add_argument("--num-per-class", type=int, default=8)
    grid.add_argument("--classes", help="comma-separated classes (default: all; over 20, the forgotten one and 9)")
    grid.add_argument("--scale", type=int, default=2, help="pixel scale of the images (default 2)")
    add_sampler_options(grid)
    grid.add_argument("--output", required=True, help="the PNG file (its protocol goes beside it as .json)")
    grid.set_defaults(run=cmd_grid)

    bench = commands.add_parser("bench", help=helps["bench"])
    bench.add_argument("pipeline", help=where)
    bench.add_argument("--forget-class", required=True, help="class index or name")
    bench.add_argument("--methods", default="sfron,salun,sa", help="comma-separated (default sfron,salun,sa)")
    bench.add_argument(
        "--steps",
        default="0,10,25,50,100",
        help="unlearning steps to evaluate at (0: the original; 'default': each method's own length, as 0,default)",
    )
    bench.add_argument("--retrained", metavar="PATH", help="a pipeline trained without the class: a reference line")
    bench.add_argument("--data-free", action="store_true", help="erase on the pipeline's own samples (cached)")
    bench.add_argument("--set", action="append", metavar="[METHOD.]NAME=VALUE", help="a method setting")
    bench.add_argument("--train-batch-size", type=int, default=64, help="unlearning batch size (default 64)")
    add_evaluation_options(bench, BENCH_NUM_SAMPLES, BENCH_BACKENDS)
    add_data_free_options(bench)
    add_sampler_options(bench, steps_flag="--sampler-steps")
    bench.add_argument("--output", required=True, help="directory for results.csv, results.json and plots")
    bench.set_defaults(run=cmd_bench)
    add_audit_command(commands, helps, where)
    add_report_command(commands, helps)
