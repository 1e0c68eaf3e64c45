"""`gen-unlearn classify`: train the original and the retrained classifier, unlearn with a method, measure.

gen-unlearn classify --dataset mnist --forget-class 3 --method neggrad+ --output result.json
gen-unlearn classify --dataset fashion-mnist --forget-fraction 0.1 --method gradtau --set lr=5e-4 --output r.json
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

from ..cli_common import check_device, default_device, parse_setting
from ..tables import format_table
from .registry import CLASSIFICATION_METHODS, classification_method_config, resolve_method
from .training import TrainConfig

logger = logging.getLogger("gen_unlearn.classification.cli")

TABLE_COLUMNS = ("FA", "RA", "TA", "MIA", "avg_gap", "KL_to_retrain")


def method_table(rows: list[tuple[str, dict[str, float], float, float | None]]) -> str:
    """Rows of (name, metrics, wall time in s, share of retrain's wall time) as an aligned text table."""
    cells = [
        [name, *(metrics.get(c, math.nan) for c in TABLE_COLUMNS), seconds, None if share is None else 100 * share]
        for name, metrics, seconds, share in rows
    ]
    return format_table(("method", *TABLE_COLUMNS, "time (s)", "% of retrain"), cells, number=".2f")


def cmd_classify(args: argparse.Namespace) -> None:
    from ..io import write_json
    from .experiment import run_experiment

    if args.forget_fraction is not None and not 0 < args.forget_fraction < 1:
        raise ValueError(f"--forget-fraction must be strictly between 0 and 1, got {args.forget_fraction}")
    settings: dict[str, Any] = dict(parse_setting(item) for item in args.set or [])
    method = "original" if args.method == "original" else resolve_method(args.method)
    if settings and method in ("original", "retrain"):
        raise ValueError(f"--set does not apply to {method}: it is trained with the training settings")
    if method not in ("original", "retrain"):
        classification_method_config(method, **settings)  # unknown settings fail now, not after training
    train_config = TrainConfig(**({"epochs": args.epochs} if args.epochs is not None else {}))
    task = f"class {args.forget_class}" if args.forget_class is not None else f"a random {args.forget_fraction:g}"
    logger.info("unlearning %s of %s with %s (seed %s)", task, args.dataset, method, args.seed)
    record = run_experiment(
        args.dataset,
        forget_class=args.forget_class,
        forget_fraction=args.forget_fraction,
        method=method,
        seed=args.seed,
        hyperparameters=settings,
        data_root=args.data_root,
        train_config=train_config,
        device=check_device(args.device),
        cache=not args.no_cache,
        progress=args.progress,
    )
    write_json(Path(args.output), record)
    retrain_time = record["retrain_wall_time_s"]
    rows = [
        ("original", record["original_metrics"], 0.0, None),
        ("retrain", record["retrain_metrics"], retrain_time, 1.0),
    ]
    if record["method"] not in ("original", "retrain"):
        rows.append((record["method"], record["metrics"], record["wall_time_s"], record["time_vs_retrain"]))
    print(f"{record['dataset']}, {record['splits']['setting']}, seed {record['seed']} (metrics in %, KL in nats)")
    print(method_table(rows))
    print(f"wrote {args.output}")


def add_classify_command(commands: argparse._SubParsersAction, helps: dict[str, str]) -> None:
    """Register `classify` on the `gen-unlearn` subcommands, with the one-line help the command list gives it."""
    names = ", ".join(["original", *CLASSIFICATION_METHODS])
    parser = commands.add_parser("classify", help=helps["classify"])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "cifar10"])
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("--forget-class", type=int, help="forget every training sample of this class")
    task.add_argument("--forget-fraction", type=float, help="forget this share of the training set, drawn at random")
    parser.add_argument("--method", default="sfron", help=f"one of {names} (default sfron)")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", help="a method setting, e.g. beta=0.99")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the models and the method")
    parser.add_argument("--epochs", type=int, help="epochs of the original and the retrained model (default 3)")
    parser.add_argument("--data-root", help="folder with the dataset in torchvision's layout")
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--no-cache", action="store_true", help="train the original and retrained models afresh")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--output", required=True, help="JSON file for the result")
    parser.set_defaults(run=cmd_classify)
