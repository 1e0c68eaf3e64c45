"""Erase classes from the shipped pipelines (MNIST and Fashion-MNIST) with every method and measure what is left.

    python scripts/benchmark_erase.py                                   # sfron on both pipelines, all ten classes
    python scripts/benchmark_erase.py --methods sfron,salun,sa,ga,rl,ft --classes 3 --pipelines mnist-ddpm
    python scripts/benchmark_erase.py --methods salun --steps 200 --data real
    python scripts/benchmark_erase.py --pipelines mnist-ddpm --classes 7 --dataset imagefolder \\
        --data-root runs/mnist-png                                       # MNIST as PNG folders
    python scripts/benchmark_erase.py --pipelines mnist-ddpm --classes 3 --data data-free   # the README's main job

For each (pipeline, method, class): erase with the method's defaults (or --steps), then sample
--forget-samples images of the forgotten class and --remain-samples of every other class with the
pipeline's default sampler, and classify them with the shipped classifier of the pipeline's dataset.
FA = share of forgotten-class samples still classified as that class (lower is better);
RA = mean share of remaining-class samples classified as their class (higher is better).
"drawn as" = the class the classifier most often gives the forgotten class's samples: ascent-based
methods leave shapeless blobs, which a digit classifier still has to put in some digit class.
Prints a table and writes results.json, results.csv and grids/ (16 forgotten-class samples per run)
to --output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gen_unlearn.cli_common import add_data_free_options, data_free_config, parse_setting
from gen_unlearn.data import dataset_of
from gen_unlearn.erasure import erase
from gen_unlearn.evaluation import make_grid, sample_images, save_png
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.evaluation.classifiers import DEFAULT_CLASSIFIERS
from gen_unlearn.hub import load_classifier, load_pipeline
from gen_unlearn.io import library_versions, write_csv, write_json
from gen_unlearn.loop import TrainingConfig
from gen_unlearn.methods import METHODS


def forgetting_and_remaining_accuracy(
    pipeline, classifier, forget_class: int, n_forget: int, n_remain: int, seed: int, grid_path: Path | None = None
):
    """FA, mean and worst RA, and what the classifier takes the forget-class samples for: (class, share)."""
    forget_images, forget_labels = sample_images(pipeline, [forget_class], n_forget, seed=seed, progress=False)
    others = [c for c in range(pipeline.num_classes) if c != forget_class]
    remain_images, remain_labels = sample_images(pipeline, others, n_remain, seed=seed, progress=False)
    forget_probabilities = classify(classifier, forget_images)
    fa = class_accuracy(forget_probabilities, forget_labels).mean
    ra = class_accuracy(classify(classifier, remain_images), remain_labels)
    verdicts = np.bincount(forget_probabilities.argmax(-1).numpy(), minlength=pipeline.num_classes)
    drawn_as = int(verdicts.argmax()), float(verdicts.max() / len(forget_images))
    if grid_path is not None:  # the first 16 samples of the forgotten class, to see what "forgotten" looks like
        save_png(make_grid([forget_images[:8], forget_images[8:16]]), grid_path)
    return fa, ra.mean, ra.worst[1], drawn_as


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", default="mnist-ddpm,mnist-dit")
    parser.add_argument("--methods", default="sfron")
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--steps", type=int, help="iterations for every method (default: each method's own)")
    parser.add_argument("--data", default="real", choices=["data-free", "real"])
    parser.add_argument(
        "--data-root", help="MNIST in torchvision's layout (default: $GEN_UNLEARN_DATA_ROOT, else the cache)"
    )
    parser.add_argument(
        "--dataset", help="with --data real: mnist, fashion-mnist or imagefolder (default: the pipeline's)"
    )
    add_data_free_options(parser)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--forget-samples", type=int, default=100)
    parser.add_argument("--remain-samples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a method setting")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=Path("runs/benchmark_erase"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(parse_setting(text) for text in args.set)

    (args.output / "grids").mkdir(parents=True, exist_ok=True)
    rows = []
    for pipeline_name in args.pipelines.split(","):
        pipeline = load_pipeline(pipeline_name)
        pipeline.set_progress_bar_config(disable=True)
        classifier = load_classifier(DEFAULT_CLASSIFIERS[dataset_of(pipeline)])  # mnist- or fashion-classifier
        # The original model's per-class accuracy, sampled once with the same seeds as the erased models.
        images, labels = sample_images(pipeline, range(pipeline.num_classes), args.remain_samples, seed=args.seed)
        original = class_accuracy(classify(classifier, images), labels).per_class
        for forget_class in [int(c) for c in args.classes.split(",")]:
            fa0 = original[forget_class]
            ra0 = float(np.mean([a for c, a in original.items() if c != forget_class]))
            rows.append(
                dict(
                    pipeline=pipeline_name,
                    method="original",
                    forget_class=forget_class,
                    steps=0,
                    erase_s=0.0,
                    fa=fa0,
                    ra=ra0,
                    ra_worst=ra0,
                    drawn_as=forget_class,
                    drawn_as_share=fa0,
                )
            )
            for method in args.methods.split(","):
                steps = args.steps if args.steps is not None else METHODS[method].default_steps
                training = TrainingConfig(steps=steps, batch_size=args.batch_size, progress=False)
                start = time.time()
                settings = {k: v for k, v in overrides.items() if hasattr(METHODS[method].Config, k)}
                erased = erase(
                    pipeline,
                    forget_class,
                    method,
                    data=args.data,
                    data_root=args.data_root,
                    dataset=args.dataset,
                    seed=args.seed,
                    training=training,
                    data_free=data_free_config(args),
                    **settings,
                )
                wall = time.time() - start
                grid = args.output / "grids" / f"{pipeline_name}-{method}-class{forget_class}.png"
                fa, ra, ra_worst, (drawn_as, drawn_share) = forgetting_and_remaining_accuracy(
                    erased, classifier, forget_class, args.forget_samples, args.remain_samples, args.seed, grid
                )
                rows.append(
                    dict(
                        pipeline=pipeline_name,
                        method=method,
                        forget_class=forget_class,
                        steps=steps,
                        erase_s=round(wall, 1),
                        fa=fa,
                        ra=ra,
                        ra_worst=ra_worst,
                        drawn_as=drawn_as,
                        drawn_as_share=drawn_share,
                    )
                )
                print(
                    f"{pipeline_name:>11} {method:>6} class {forget_class}: {steps:>5} steps {wall:7.1f} s  "
                    f"FA {fa * 100:5.1f}%  RA {ra * 100:5.1f}% (worst {ra_worst * 100:5.1f}%)  "
                    f"classified as {drawn_as} ({drawn_share * 100:.0f}%)",
                    flush=True,
                )

    print(
        f"\n{'pipeline':>11} {'method':>8} {'class':>5} {'steps':>6} {'erase s':>8} {'FA %':>6} {'RA %':>6} "
        f"{'RA worst':>8} {'drawn as':>9}"
    )
    for r in rows:
        print(
            f"{r['pipeline']:>11} {r['method']:>8} {r['forget_class']:>5} {r['steps']:>6} {r['erase_s']:>8.1f} "
            f"{r['fa'] * 100:>6.1f} {r['ra'] * 100:>6.1f} {r['ra_worst'] * 100:>8.1f} "
            f"{r['drawn_as']:>3} ({r['drawn_as_share'] * 100:3.0f}%)"
        )
    print("\nmean over classes:")
    for key in sorted({(r["pipeline"], r["method"]) for r in rows}):
        sel = [r for r in rows if (r["pipeline"], r["method"]) == key]
        print(
            f"{key[0]:>11} {key[1]:>8}  FA {np.mean([r['fa'] for r in sel]) * 100:5.1f}%  worst FA "
            f"{max(r['fa'] for r in sel) * 100:5.1f}%  RA {np.mean([r['ra'] for r in sel]) * 100:5.1f}%  "
            f"erase {np.mean([r['erase_s'] for r in sel]):6.1f} s"
        )
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "results.json", {"args": vars(args), "rows": rows, "versions": library_versions()})
    write_csv(args.output / "results.csv", rows)


if __name__ == "__main__":
    main()
