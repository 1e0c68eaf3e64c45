"""Side by side on one protocol: every generative method against the model retrained without the class.

    python scripts/benchmark_methods.py                       # both datasets' DDPMs, the issue's full protocol
    python scripts/benchmark_methods.py --jobs mnist-ddpm:3:mnist-ddpm-without-3 --steps 0,10,25,50,100,250 \\
        --num-samples 30 --output runs/benchmark_methods      # what a 2-core CPU affords
    python scripts/benchmark_methods.py --every-class mnist-ddpm,mnist-dit,fashion-ddpm --jobs ""

Stage 1 (`--jobs PIPELINE:CLASS:RETRAINED,...`): `gen_unlearn.evaluation.bench` erases CLASS with each method
once, up to the largest of `--steps`, and evaluates the weights at every listed step with `evaluate` (FA with the
pipeline's rejecting classifier and the papers' argmax protocol, RA, remaining-class FID); the original and the
retrained pipeline are evaluated on the same protocol (same seeds, samples, sampler and reference images).
From those rows this script adds the FID ratio to the retrained model, the first step at which each method
reaches FA ≤ --fa-target at a FID ratio ≤ --fid-ratio-target, how many times more steps than SFR-on that is,
and the erase wall time against the retrained model's training wall time (its train.json).

Stage 2 (`--every-class`): SFR-on's defaults on every class of each pipeline (data-free, 50 steps or
--every-class-steps), FA and RA
with --every-class-samples per class, RA against the original's on the same samples; `--set sfron.NAME=VALUE`
measures other settings (keep a separate --output: the records are keyed by the settings).

Each finished bench, each finished method within a bench and each erased class is kept under --output;
rerunning the command resumes where it stopped. Prints the tables, writes summary.csv, every_class.csv,
summary.json and the plots (fa_vs_steps.png, fid_ratio_vs_steps.png, fa_vs_fid_ratio.png).
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from gen_unlearn.cli_common import add_data_free_options, data_free_config, parse_setting
from gen_unlearn.erasure import erase, method_config
from gen_unlearn.evaluation import bench, evaluate
from gen_unlearn.evaluation.bench import steps_to_target
from gen_unlearn.evaluation.classifiers import classifier_sha256
from gen_unlearn.hub import load_pipeline, training_record
from gen_unlearn.io import (
    atomic_path,
    file_label,
    fingerprint_pipeline,
    library_versions,
    resumed,
    write_csv,
    write_json,
)
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.methods import METHODS
from gen_unlearn.tables import format_table

ALL_METHODS = "sfron,salun,sa,ga,rl,ft"
DEFAULT_JOBS = "mnist-ddpm:3:mnist-ddpm-without-3,fashion-ddpm:6:fashion-ddpm-without-6"
EVERY_CLASS = "mnist-ddpm,mnist-dit,fashion-ddpm,fashion-dit"


def parse_jobs(text: str) -> list[tuple[str, str, str | None]]:
    """ "pipeline:class[:retrained],..." -> [(pipeline, class, retrained or None)], a one-line error otherwise."""
    jobs = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        parts = item.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise SystemExit(
                f"--jobs: {item!r} is not PIPELINE:CLASS[:RETRAINED], e.g. mnist-ddpm:3:mnist-ddpm-without-3"
            )
        jobs.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
    return jobs


def job_dir(output: Path, pipeline: str, forget_class: str) -> Path:
    return output / f"{Path(pipeline).name}-class{forget_class}"


def run_job(args: argparse.Namespace, pipeline_name: str, forget_class: str, retrained_name: str | None) -> Path:
    """One bench (resumed: a finished one is read back, not rerun)."""
    folder = job_dir(args.output, pipeline_name, forget_class)
    if (folder / "results.csv").exists():
        logging.info("%s: done before, reading %s", folder.name, folder / "results.csv")
        return folder
    pipeline = load_pipeline(pipeline_name).to(args.device)
    retrained = load_pipeline(retrained_name).to(args.device) if retrained_name else None
    bench(
        pipeline,
        forget_class,
        methods=args.methods,
        steps=args.steps,
        output_dir=folder,
        retrained=retrained,
        data=args.data,
        data_free=data_free_config(args),
        data_root=args.data_root,
        seed=args.seed,
        training=TrainingConfig(steps=1, batch_size=args.batch_size, progress=True),
        method_settings=method_settings(args),
        pipeline_name=Path(pipeline_name).name,
        num_samples=args.num_samples,
        fid_backends=args.fid_backends,
        inception=args.inception,
        reference_per_class=args.reference_per_class,
        domain_fid=True,
        save_pipelines=args.save_pipelines,
    )
    return folder


def method_settings(args: argparse.Namespace, methods: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """--set METHOD.NAME=VALUE (one method) or NAME=VALUE (every method), as `gen-unlearn bench --set`, for
    `methods` (default --methods). A setting for a method that no stage runs (--methods, and sfron for
    --every-class) is an error; one for a method of the other stage is not."""
    methods = args.methods if methods is None else methods
    runs = set(args.methods) | ({"sfron"} if args.every_class else set())
    settings: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for text in args.set:
        key, value = parse_setting(text)
        method, _, name = key.rpartition(".")
        if method and method not in runs:
            raise SystemExit(f"--set {text}: {method} is not one of --methods ({', '.join(args.methods)})")
        for target in [method] if method else methods:
            if target in settings:
                settings[target][name] = value
    return settings


# -- the side-by-side summary --------------------------------------------------------------------------


def read_rows(folder: Path) -> list[dict[str, Any]]:
    with open(folder / "results.csv") as f:
        return [{k: number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def training_wall_time(name: str | None) -> float | None:
    """The retrained model's training wall time in seconds, from the train.json beside it (None if unknown)."""
    record = training_record(name) if name else None
    return float(record["wall_time_s"]) if record else None


def summarise_job(rows: list[dict[str, Any]], job: tuple[str, str, str | None], backend: str) -> list[dict[str, Any]]:
    """The bench rows of one job, with the erase wall time as a share of the retrained model's training time."""
    pipeline, forget_class, retrained_name = job
    train_s = training_wall_time(retrained_name)
    out = []
    for row in rows:
        wall = row.get("erase_wall_time_s")
        out.append(
            {
                "pipeline": Path(pipeline).name,
                "forget_class": forget_class,
                "method": row["method"],
                "steps": row["steps"],
                "fa": row["forgetting_accuracy"],
                "papers_fa": row["papers_forgetting_accuracy"],
                "ra": row["remain_accuracy_mean"],
                "fid": row.get(f"fid_{backend}", ""),
                "fid_ratio": row.get("fid_ratio_to_retrained", float("nan")),
                "classifier_fd": row.get("classifier_fd_not_inception", ""),
                "erase_wall_s": wall,
                "share_of_retrain": wall / train_s if train_s and isinstance(wall, float) else float("nan"),
            }
        )
    return out


def target_table(
    rows: list[dict[str, Any]], summary: list[dict[str, Any]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Per method of one job: the first listed step at the target (`bench.steps_to_target`), and × SFR-on's."""
    first = steps_to_target(rows, args.fa_target, args.fid_ratio_target)
    out = []
    for method in (m for m in args.methods if m in first):  # a method the job did not run has no row
        steps = first.get(method)
        hit = next((r for r in summary if r["method"] == method and r["steps"] == steps), None)
        ran = max((r["steps"] for r in summary if r["method"] == method), default=0)
        out.append(
            {
                "pipeline": summary[0]["pipeline"],
                "method": method,
                "steps_to_target": steps if hit else f"not by {ran}",
                "times_sfron": round(steps / first["sfron"], 1) if hit and first.get("sfron") else "",
                "fa_there": hit["fa"] if hit else "",
                "fid_ratio_there": hit["fid_ratio"] if hit else "",
                "erase_wall_s": hit["erase_wall_s"] if hit else "",
                "share_of_retrain": hit["share_of_retrain"] if hit else "",
            }
        )
    return out


# -- SFR-on's default on every class ---------------------------------------------------------------------


def every_class(args: argparse.Namespace) -> list[dict[str, Any]]:
    """SFR-on's defaults (with any --set sfron.NAME=VALUE) on each class of each pipeline: FA, RA and RA
    relative to the original's."""
    rows, settings = [], method_settings(args, ["sfron"])["sfron"]
    for name in filter(None, args.every_class.split(",")):
        pipeline = load_pipeline(name).to(args.device)
        pipeline.set_progress_bar_config(disable=True)
        folder, label = args.output / "every_class", file_label(name)
        key = {"pipeline": fingerprint_pipeline(pipeline), "samples": args.every_class_samples, "seed": args.seed}
        key["classifier_sha256"] = classifier_sha256(pipeline)  # the classifier that judges: retrained, re-measure
        measured = method_config("sfron", **settings).for_denoiser(pipeline.denoiser)
        key["sfron"] = asdict(measured)  # the settings measured, as resolved for this denoiser: a change re-measures
        original = resumed(folder, f"{label}-original", key, lambda p=pipeline: per_class(p, args))
        erase_key = {**key, "steps": args.every_class_steps}  # the original's record does not depend on the steps
        for c in range(pipeline.num_classes):
            record = resumed(
                folder, f"{label}-class{c}", erase_key, lambda c=c, p=pipeline: erase_one(p, c, args, settings)
            )
            ra_original = sum(v for k, v in original.items() if int(k) != c) / (len(original) - 1)
            rows.append(
                {
                    "pipeline": name,
                    "forget_class": c,
                    "name": pipeline.class_names[c],
                    "steps": args.every_class_steps,
                    "fa": record["fa"],
                    "ra": record["ra"],
                    "ra_of_original": record["ra"] / ra_original,
                    "worst_remaining": worst_remaining(record, original, pipeline.class_names),
                    "original_fa": original[str(c)],
                    "erase_wall_s": record["erase_wall_s"],
                }
            )
    return rows


def worst_remaining(record: dict[str, Any], original: dict[str, float], names: list[str]) -> str:
    """The remaining class that lost the most accuracy against the original: 'name original -> erased'."""
    if "ra_per_class" not in record:
        return ""
    drops = {c: original[c] - a for c, a in record["ra_per_class"].items()}
    c = max(drops, key=drops.get)
    return f"{names[int(c)]} {original[c]:.2f} -> {record['ra_per_class'][c]:.2f}"


def per_class(pipeline: Any, args: argparse.Namespace) -> dict[str, float]:
    """The original's share of samples judged as their class, per class, on the every-class protocol."""
    report = evaluate(pipeline, 0, args.every_class_samples, fid_backends=(), seed=args.seed, progress=False)
    accuracy = {0: report.forgetting.forgetting_accuracy, **report.remain_accuracy}
    return {str(k): float(v) for k, v in sorted(accuracy.items())}


def erase_one(pipeline: Any, forget_class: int, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    start = time.time()
    training = TrainingConfig(args.every_class_steps, progress=False)
    erased = erase(pipeline, forget_class, "sfron", seed=args.seed, training=training, **settings)
    wall = time.time() - start
    report = evaluate(erased, forget_class, args.every_class_samples, fid_backends=(), seed=args.seed, progress=False)
    return {
        "fa": report.forgetting.forgetting_accuracy,
        "ra": report.remain_accuracy_mean,
        "ra_per_class": {str(c): float(a) for c, a in report.remain_accuracy.items()},
        "erase_wall_s": round(wall, 1),
        "steps": erased.run_record["training"]["steps"],
    }


# -- output ----------------------------------------------------------------------------------------------


def show(rows: list[dict[str, Any]], title: str) -> None:
    if rows:
        columns = list(rows[0])
        print(f"\n{title}\n" + format_table(columns, [[fmt(r[c]) for c in columns] for r in rows]))


def fmt(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def plot(summary: list[dict[str, Any]], methods: list[str], output: Path, caption: str) -> list[Path]:
    """FA and FID ratio against steps (symlog x), and FA against the FID ratio, one panel per pipeline; the
    targets as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipelines = list(dict.fromkeys(r["pipeline"] for r in summary))
    paths = []
    for key, label, target in (
        ("fa", "forgetting accuracy (reject-aware)", "fa"),
        ("fid_ratio", "FID / retrained FID", "r"),
    ):
        fig, axes = plt.subplots(1, len(pipelines), figsize=(5.5 * len(pipelines), 4), squeeze=False)
        for ax, pipeline in zip(axes[0], pipelines, strict=True):
            for method in methods:
                rows = [r for r in summary if r["pipeline"] == pipeline and r["method"] == method]
                ax.plot([r["steps"] for r in rows], [r[key] for r in rows], marker="o", label=method)
            ax.axhline(TARGETS[target], color="grey", linestyle="--", linewidth=1, label="target")
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(left=0)
            ax.set(xlabel="unlearning steps", ylabel=label, title=pipeline)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        paths.append(save_figure(fig, caption, output / f"{key}_vs_steps.png"))
    tradeoff = tradeoff_figure(summary, methods, pipelines)
    paths.append(save_figure(tradeoff, caption, output / "fa_vs_fid_ratio.png"))
    return paths


def tradeoff_figure(summary: list[dict[str, Any]], methods: list[str], pipelines: list[str]) -> Any:
    """Each method's erased rows (labelled with their steps) and the original and retrained models, at their FID
    ratio (x) and FA (y): the targets' corner is bottom left of the dashed lines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(pipelines), figsize=(5.5 * len(pipelines), 4), squeeze=False)
    for ax, pipeline in zip(axes[0], pipelines, strict=True):
        rows = [r for r in summary if r["pipeline"] == pipeline]
        for method in [*methods, "original", "retrained"]:
            mine = [r for r in rows if r["method"] == method and (r["steps"] != 0 or method == "original")]
            ax.plot([r["fid_ratio"] for r in mine], [r["fa"] for r in mine], marker="o", label=method)
            for r in mine:
                if r["steps"] not in ("", 0):
                    ax.annotate(str(r["steps"]), (r["fid_ratio"], r["fa"]), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")  # fmt: skip
        ax.axhline(TARGETS["fa"], color="grey", linestyle="--", linewidth=1, label="targets")
        ax.axvline(TARGETS["r"], color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="FID / retrained FID", ylabel="forgetting accuracy (reject-aware)", title=pipeline)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def save_figure(fig: Any, caption: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.text(0.01, 0.01, caption, fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": "gen_unlearn benchmark_methods"})
    plt.close(fig)
    return path


TARGETS = {"fa": 0.01, "r": 1.05}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default=DEFAULT_JOBS, help=f"PIPELINE:CLASS:RETRAINED,... (default {DEFAULT_JOBS})")
    parser.add_argument("--methods", default=ALL_METHODS)
    parser.add_argument(
        "--steps", default="0,10,25,50,100,250,500,1000", help="'default' is each method's own length, e.g. 0,default"
    )
    parser.add_argument("--num-samples", type=int, default=100, help="samples per class for each evaluation")
    parser.add_argument("--fid-backends", default="torch-fidelity", help="comma-separated: torch-fidelity,clean-fid")
    parser.add_argument("--inception", help="Inception weights (file or folder; default: the libraries' own)")
    parser.add_argument("--reference-per-class", type=int, help="real test images per class for FID (default: all)")
    parser.add_argument("--data", default="data-free", choices=["data-free", "real"], help="(default data-free)")
    parser.add_argument("--data-root")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.NAME=VALUE")
    parser.add_argument("--fa-target", type=float, default=TARGETS["fa"])
    parser.add_argument("--fid-ratio-target", type=float, default=TARGETS["r"])
    parser.add_argument("--every-class", default="", help=f"pipelines for SFR-on on every class, e.g. {EVERY_CLASS}")
    parser.add_argument("--every-class-samples", type=int, default=100)
    parser.add_argument(
        "--every-class-steps",
        type=int,
        default=METHODS["sfron"].default_steps,
        help="SFR-on's steps (default: its own)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--save-pipelines",
        action="store_true",
        help="also write the weights at each listed step, as they are reached, to OUTPUT/JOB/pipelines/METHOD-STEPS/",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark_methods"))
    add_data_free_options(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.methods = [m for m in args.methods.split(",") if m]
    args.fid_backends = [b for b in args.fid_backends.split(",") if b]
    jobs = parse_jobs(args.jobs)
    method_settings(args)  # a mistyped --set fails now, not after hours of stage 1
    args.output.mkdir(parents=True, exist_ok=True)

    start, summary, targets = time.time(), [], []
    for job in jobs:
        rows = read_rows(run_job(args, *job))
        job_summary = summarise_job(rows, job, args.fid_backends[0] if args.fid_backends else "")
        summary += job_summary
        targets += target_table(rows, job_summary, args)
    every = every_class(args)
    write_csv(args.output / "summary.csv", summary)
    write_csv(args.output / "steps_to_target.csv", targets)
    write_csv(args.output / "every_class.csv", every)
    protocol = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(
        args.output / "summary.json",
        {"protocol": protocol, "summary": summary, "steps_to_target": targets, "every_class": every,
         "wall_time_s": round(time.time() - start, 1), "versions": library_versions()},
    )  # fmt: skip
    show(summary, "every method at every listed step (fa, ra: fractions; fid_ratio: FID / retrained FID)")
    show(targets, f"steps to FA ≤ {args.fa_target} at FID ratio ≤ {args.fid_ratio_target}")
    show(every, "SFR-on's defaults on every class")
    if summary:
        caption = (
            f"{args.num_samples} samples/class, seed {args.seed}, data {args.data}, FID {args.fid_backends[:1]} on "
            f"the remaining classes; FA with the pipeline's rejecting classifier"
        )
        plot(summary, args.methods, args.output, caption)


if __name__ == "__main__":
    main()
