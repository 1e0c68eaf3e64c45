"""Memorize-to-Forget's FA / TA trade-off over α × learning rate, momentum and plain extrapolation.

    python scripts/sweep_memorize_to_forget.py                     # MNIST + Fashion-MNIST, class 3 + random 10%
    python scripts/sweep_memorize_to_forget.py --datasets mnist --settings class --lrs 1e-4 --alphas 4,6,8
    python scripts/sweep_memorize_to_forget.py --set steps=600 --set target=next --output runs/mox_targeted

One memorisation run per (dataset, task, lr) gives both variants at every α: the plain variant extrapolates
the final θ_mem at any α, and the run keeps the momentum average θ̄ of every α at once (θ̄ depends on α,
not the trajectory of θ_mem). Every model is measured on the forget set (FA), remain subset (RA) and test
set (TA) beside the retrained model. The best point of each (dataset, task, variant) is the one closest to
retraining, min |FA − FA_RT| + |TA − TA_RT|; class-wise, the target is FA ≤ 1 with |TA − TA_RT| ≤ 1.
Prints the table and the best points, writes results.json, results.csv and fa_ta_tradeoff.png to --output
(--resume skips the (dataset, task, lr) runs already in results.json).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from gen_unlearn.classification import ClassificationExperiment, classification_method_config
from gen_unlearn.classification.memorize_to_forget import MemorizeToForget
from gen_unlearn.classification.metrics import evaluate_classifier
from gen_unlearn.cli_common import parse_setting
from gen_unlearn.io import atomic_path, library_versions, write_csv, write_json

TARGET_FA, TARGET_TA_GAP = 1.0, 1.0
VARIANTS = ("momentum", "plain")


def numbers(text: str, flag: str, parser: argparse.ArgumentParser) -> list[float]:
    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        parser.error(f"{flag} {text!r}: give numbers separated by commas, for example {flag} 1,2,4")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="mnist,fashion-mnist")
    parser.add_argument("--settings", default="class,random", help="class (class-wise), random (random subset)")
    parser.add_argument("--forget-class", type=int, default=3)
    parser.add_argument("--forget-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", default="1,2,4,6,8")
    parser.add_argument("--lrs", default="1e-4,3e-4,1e-3")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a memorisation setting")
    parser.add_argument("--data-root")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's choice)")
    parser.add_argument("--resume", action="store_true", help="skip runs already in --output/results.json")
    parser.add_argument("--output", type=Path, default=Path("runs/sweep_memorize_to_forget"))
    args = parser.parse_args()
    args.alpha_list, args.lr_list = numbers(args.alphas, "--alphas", parser), numbers(args.lrs, "--lrs", parser)
    try:
        args.overrides = dict(parse_setting(s) for s in args.set)
        classification_method_config("memorize-to-forget", **args.overrides)
    except ValueError as error:
        parser.error(str(error))
    return args


def memorize(experiment: ClassificationExperiment, lr: float, args: argparse.Namespace) -> tuple[Any, Any, float]:
    """One memorisation run; the method (with θ̄ of every α) and θ_mem, and its wall time."""
    config = classification_method_config("memorize-to-forget", **{**args.overrides, "lr": lr})
    method = MemorizeToForget(experiment.original().model, experiment.splits, config, seed=args.seed)
    method.extrapolate_at_finish = False
    method.tracked_alphas = tuple(args.alpha_list)
    start = time.time()
    memorized = method.run().model
    return method, memorized, time.time() - start


def measure(experiment: ClassificationExperiment, lr: float, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rows of FA / RA / TA for both variants (momentum only when the config has one) at every α."""
    method, memorized, seconds = memorize(experiment, lr, args)
    variants = VARIANTS if method.config.momentum is not None else ("plain",)
    rows = []
    for variant in variants:
        for alpha in args.alpha_list:
            model = method.load_unlearned(copy.deepcopy(memorized), alpha, momentum=variant == "momentum")
            metrics = evaluate_classifier(model, experiment.splits, seed=args.seed)
            rows.append({"lr": lr, "variant": variant, "alpha": alpha, "memorize_s": seconds} | pick(metrics))
    return rows


def pick(metrics: dict[str, float]) -> dict[str, float]:
    return {k: metrics[k] for k in ("FA", "RA", "TA")}


def task_rows(experiment: ClassificationExperiment, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with the task's names and the retrained model's FA / TA and the gaps to them."""
    retrain = pick(experiment.evaluate(experiment.retrained().model))
    task = {"dataset": experiment.dataset, "setting": experiment.splits.setting}
    return [
        task
        | row
        | {"retrain_FA": retrain["FA"], "retrain_TA": retrain["TA"], "TA_gap": row["TA"] - retrain["TA"]}
        | {"distance": abs(row["FA"] - retrain["FA"]) + abs(row["TA"] - retrain["TA"])}
        for row in rows
    ]


def best_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (dataset, task, variant), the row closest to retraining, and whether it meets the class-wise target."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["setting"], row["variant"]), []).append(row)
    best = [min(group, key=lambda r: r["distance"]) for group in groups.values()]
    return [row | {"target_met": row["FA"] <= TARGET_FA and abs(row["TA_gap"]) <= TARGET_TA_GAP} for row in best]


def print_rows(rows: list[dict[str, Any]], title: str) -> None:
    print(f"\n{title}")
    header = (
        f"{'dataset':<14}{'task':<12}{'variant':<10}{'lr':>8}{'α':>5}{'FA':>8}{'RA':>8}{'TA':>8}{'TA_RT':>8}{'gap':>8}"
    )
    print(header + "\n" + "-" * len(header))
    for r in rows:
        print(
            f"{r['dataset']:<14}{r['setting']:<12}{r['variant']:<10}{r['lr']:>8.0e}{r['alpha']:>5g}{r['FA']:>8.2f}"
            f"{r['RA']:>8.2f}{r['TA']:>8.2f}{r['retrain_TA']:>8.2f}{r['TA_gap']:>+8.2f}"
        )


def save(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    record = {
        "rows": rows,
        "best": best_points(rows),
        "args": {k: str(v) for k, v in vars(args).items()},
        "defaults": vars(classification_method_config("memorize-to-forget")),
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
    write_json(args.output / "results.json", record)
    write_csv(args.output / "results.csv", rows)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """TA against FA, one panel per (dataset, task), one curve over α per (variant, lr); retraining as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys((r["dataset"], r["setting"]) for r in rows))
    columns = min(2, len(tasks))
    rows_of_panels = -(-len(tasks) // columns)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(6 * columns, 4.5 * rows_of_panels), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):  # an odd count leaves one panel empty
        block = [r for r in rows if (r["dataset"], r["setting"]) == task]
        for variant, lr in dict.fromkeys((r["variant"], r["lr"]) for r in block):
            curve = [r for r in block if (r["variant"], r["lr"]) == (variant, lr)]
            style = {"marker": "o", "linestyle": "-"} if variant == "momentum" else {"marker": "s", "linestyle": "--"}
            fill = {} if variant == "momentum" else {"markerfacecolor": "none"}
            xy = [r["FA"] for r in curve], [r["TA"] for r in curve]
            ax.plot(*xy, **style, **fill, label=f"{variant} lr {lr:g}")
            for r in curve:
                ax.annotate(f"{r['alpha']:g}", (r["FA"], r["TA"]), fontsize=6)
        ax.plot(block[0]["retrain_FA"], block[0]["retrain_TA"], "k*", markersize=12, label="retrain")
        ax.set(xlabel="FA (%)", ylabel="TA (%)", title=f"{task[0]} {task[1]} (labels: α)")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def task_of(setting: str, args: argparse.Namespace) -> dict[str, Any]:
    if setting == "class":
        return {"forget_class": args.forget_class}
    return {"forget_fraction": args.forget_fraction}


def load_done(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = args.output / "results.json"
    return json.loads(results.read_text())["rows"] if args.resume and results.exists() else []


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = load_done(args)
    done = {(r["dataset"], r["setting"], r["lr"]) for r in rows}
    start = time.time()
    for dataset in args.datasets.split(","):
        for setting in args.settings.split(","):
            task = (
                {"forget_class": args.forget_class} if setting == "class" else {"forget_fraction": args.forget_fraction}
            )
            experiment = ClassificationExperiment.load(
                dataset, seed=args.seed, data_root=args.data_root, device="cpu", **task
            )
            for lr in args.lr_list:
                if (experiment.dataset, experiment.splits.setting, lr) in done:
                    continue
                new = task_rows(experiment, measure(experiment, lr, args))
                rows += new
                save(rows, args)
                print_rows(new, f"[{time.time() - start:5.0f}s] {dataset} {experiment.splits.setting} lr {lr:g}")
    print_rows(best_points(rows), "best point per (dataset, task, variant): min |FA − FA_RT| + |TA − TA_RT|")
    plot(rows, args.output / "fa_ta_tradeoff.png")
    print(f"\nwrote {args.output}/results.json, results.csv and fa_ta_tradeoff.png")


if __name__ == "__main__":
    main()
