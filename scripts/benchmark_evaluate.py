"""Where the time of `gen_unlearn.evaluate` goes, and what a full-size evaluation costs on this machine.

    python scripts/benchmark_evaluate.py --num-samples 100 --inception ../shared/weights   # the CPU target
    python scripts/benchmark_evaluate.py --num-samples 1000 --device cuda --inception DIR    # the GPU target

For each --num-samples N (samples per class), runs `evaluate` on --pipeline twice: once with the reference
statistics not yet cached (a fresh cache folder) and once with them cached, as a user meets it the first
time and every time after. Prints the wall time split into sampling, classification, sample features,
reference features and the Frechet distance, the per-image rates, and from those rates the time of an
evaluation with --project-to samples per class (default 1000, all reference images of the split).
The targets (with the reference statistics cached): 100 per class on a 2-core CPU in 5 minutes, 1000 per
class on one GPU in 60 s. `--fid-features separate` times the cross-check instead of the default shared
Inception pass. Writes results.json and time_split.png (a stacked bar per run) to --output.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from gen_unlearn.evaluation import BACKENDS, InceptionNetwork, evaluate
from gen_unlearn.evaluation.report import select_reference
from gen_unlearn.hub import load_pipeline
from gen_unlearn.io import atomic_path, library_versions, write_json

PHASES = ("sampling", "classify", "features", "reference_features", "fid")


def plot_time_split(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(runs), 4))
    names = [f"{r['num_samples']}/class\n{'cached ref' if r['reference_cached'] else 'first run'}" for r in runs]
    bottom = [0.0] * len(runs)
    for phase in PHASES:
        values = [r["timings_s"].get(phase, 0.0) for r in runs]
        ax.bar(names, values, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("wall time (s)")
    ax.set_title("gen_unlearn.evaluate: where the time goes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default="mnist-ddpm")
    parser.add_argument("--forget-class", type=int, default=3)
    parser.add_argument("--num-samples", default="20,50", help="comma-separated samples per class")
    parser.add_argument("--reference-per-class", type=int, help="real images per class (default: as many as N)")
    parser.add_argument("--fid-backends", default=",".join(BACKENDS))
    parser.add_argument("--fid-features", default="shared", choices=["shared", "separate"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--inception", help="the FID Inception TorchScript file or folder")
    parser.add_argument("--project-to", type=int, default=1000, help="samples per class of the projected run")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark_evaluate"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    backends = [b for b in args.fid_backends.split(",") if b]
    network = InceptionNetwork(args.inception)
    pipeline = load_pipeline(args.pipeline).to(args.device)
    pipeline.set_progress_bar_config(disable=True)

    runs = []
    for n in [int(v) for v in args.num_samples.split(",")]:
        per_class = args.reference_per_class or n
        with tempfile.TemporaryDirectory() as cache:  # the first run computes the reference statistics
            previous = os.environ.get("GEN_UNLEARN_CACHE")
            os.environ["GEN_UNLEARN_CACHE"] = cache
            try:
                for _ in range(2):
                    start = time.time()
                    report = evaluate(
                        pipeline,
                        args.forget_class,
                        n,
                        fid_backends=backends,
                        fid_features=args.fid_features,
                        inception=network,
                        reference_per_class=per_class,
                        pipeline_name=args.pipeline,
                    )
                    cached = all(v["was_cached"] for v in report.protocol["reference"]["cache"].values())
                    runs.append(
                        {
                            "num_samples": n,
                            "reference_per_class": per_class,
                            "reference_cached": cached,
                            "num_generated": n * pipeline.num_classes,
                            "num_fid_samples": report.protocol["num_fid_samples"],
                            "num_reference": report.protocol["reference"]["num_images"],
                            "timings_s": report.timings_s,
                            "wall_s": time.time() - start,
                            "fa": report.forgetting.forgetting_accuracy,
                            "ra": report.remain_accuracy_mean,
                            "fid": report.fid,
                        }
                    )
                    print(report.table(), flush=True)
            finally:
                if previous is None:
                    os.environ.pop("GEN_UNLEARN_CACHE")
                else:
                    os.environ["GEN_UNLEARN_CACHE"] = previous

    cuda = args.device.startswith("cuda")
    device = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    what = f"FID backends {','.join(backends) or 'none'}, {args.fid_features} features"
    print(f"\nevaluate {args.pipeline} on {device}; {what}")
    header = f"{'N/class':>7} {'ref':>6} {'samples':>8} " + " ".join(f"{p:>18}" for p in PHASES) + f" {'total s':>8}"
    print(header)
    for r in runs:
        cells = " ".join(f"{r['timings_s'].get(p, 0.0):>18.1f}" for p in PHASES)
        ref = "cached" if r["reference_cached"] else "first"
        print(f"{r['num_samples']:>7} {ref:>6} {r['num_generated']:>8} {cells} {r['timings_s']['total']:>8.1f}")

    # Rates from the largest first run; each phase scales with the images it handles.
    first = max((r for r in runs if not r["reference_cached"]), key=lambda r: r["num_samples"])
    rates = {
        "sampling_s_per_image": first["timings_s"]["sampling"] / first["num_generated"],
        "feature_s_per_image": first["timings_s"]["features"] / first["num_fid_samples"],
        "reference_feature_s_per_image": first["timings_s"]["reference_features"] / first["num_reference"],
        "classify_s_per_image": first["timings_s"]["classify"] / first["num_generated"],
    }
    reference = load_reference_count(pipeline.num_classes, args.forget_class)
    n = args.project_to
    projected = {
        "sampling": rates["sampling_s_per_image"] * n * pipeline.num_classes,
        "classify": rates["classify_s_per_image"] * n * pipeline.num_classes,
        "features": rates["feature_s_per_image"] * n * (pipeline.num_classes - 1),
        "reference_features": rates["reference_feature_s_per_image"] * reference,
    }
    cached_total = projected["sampling"] + projected["classify"] + projected["features"]
    print("\nper image: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in rates.items()))
    print(
        f"projected for {n}/class ({n * pipeline.num_classes} samples, {n * (pipeline.num_classes - 1)} FID samples, "
        f"{reference} reference images): sampling {projected['sampling'] / 60:.1f} min, features "
        f"{projected['features'] / 60:.1f} min, reference features {projected['reference_features'] / 60:.1f} min "
        f"(first run only); total {cached_total / 60:.1f} min with cached references, "
        f"{(cached_total + projected['reference_features']) / 60:.1f} min on the first run"
    )
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(
        args.output / "results.json",
        {
            "args": {k: str(v) for k, v in vars(args).items()},
            "runs": runs,
            "rates": rates,
            "projected_s": projected,
            "threads": torch.get_num_threads(),
            "versions": library_versions(),
        },
    )
    plot_time_split(runs, args.output / "time_split.png")
    print(f"wrote {args.output / 'results.json'} and {args.output / 'time_split.png'}")


def load_reference_count(num_classes: int, forget_class: int) -> int:
    """Real test images of the remaining classes: what a default evaluation compares with."""
    from gen_unlearn.data import load_dataset

    data = load_dataset("mnist", train=False)
    images, _ = select_reference(data, [c for c in range(num_classes) if c != forget_class])
    return len(images)


if __name__ == "__main__":
    main()
