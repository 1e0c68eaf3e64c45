"""How much ink the remaining classes carry: real test images, the original, the retrained model and each erase.

    python scripts/stroke_ink.py mnist-ddpm 3 --retrained mnist-ddpm-without-3 \
        --erases "sfron" "ga" "sfron remain_alpha=0" "sfron remain_alpha=20" --output runs/ink

A diagnostic for the remaining-class FID: on the shipped MNIST pipelines that FID moves with stroke weight. Ink is
the share of pixels above 128 (of 255) over `--num-per-class` samples of each remaining class, drawn with the same
seeds for every model (`sample_images`), and over the dataset's test images of those classes. Each erase is
`METHOD [NAME=VALUE ...]`, data-free at the method's defaults otherwise, at `--seed`, on `--device` (a GPU where there
is one). Prints the table and writes ink.csv and ink.json (the arguments and library versions) to `--output`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gen_unlearn.cli_common import parse_setting
from gen_unlearn.data import dataset_of, load_dataset
from gen_unlearn.erasure import erase, method_config
from gen_unlearn.hub import load_pipeline
from gen_unlearn.io import library_versions, write_csv, write_json
from gen_unlearn.loop import TrainingConfig, default_device
from gen_unlearn.methods import METHODS
from gen_unlearn.sampling import sample_images
from gen_unlearn.tables import format_table


def ink(images: np.ndarray | torch.Tensor) -> float:
    """The share of pixels above 128 in uint8 images."""
    return float((np.asarray(images) > 128).mean())


def parse_erase(text: str) -> tuple[str, dict[str, Any]]:
    """ "METHOD NAME=VALUE ..." -> (method, settings), checked against the method's settings; a one-line error."""
    method, *items = text.split() or [""]
    settings = dict(parse_setting(item) for item in items)
    try:
        method_config(method, **settings)  # an unknown method or setting is an error here
    except (TypeError, ValueError) as error:
        raise SystemExit(f"--erases {text!r}: {error}") from None
    return method, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("forget_class", type=int)
    parser.add_argument("--retrained", help="the pipeline trained without the class")
    parser.add_argument("--erases", nargs="*", default=["sfron"], help='each "METHOD [NAME=VALUE ...]"')
    parser.add_argument("--num-per-class", type=int, default=50)
    parser.add_argument("--dataset", help="the real images' dataset (default: the pipeline's)")
    parser.add_argument("--data-root")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=default_device(), help="default: a GPU where there is one")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--output", type=Path, default=Path("runs/stroke_ink"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    erases = {text: parse_erase(text) for text in args.erases}  # a mistyped method or setting fails before any work
    pipeline = load_pipeline(args.pipeline).to(args.device)
    remain = [c for c in range(pipeline.num_classes) if c != args.forget_class]
    real = load_dataset(dataset_of(pipeline, args.dataset), args.data_root, train=False)
    rows = [{"model": "real test images", "ink": ink(real.images[real.labels != args.forget_class])}]
    models = {"original": pipeline}
    if args.retrained:
        models["retrained"] = load_pipeline(args.retrained).to(args.device)
    for text, (method, settings) in erases.items():
        training = TrainingConfig(steps=METHODS[method].default_steps, device=args.device)
        models[text] = erase(pipeline, args.forget_class, method, seed=args.seed, training=training, **settings)
    for name, model in models.items():
        images, _ = sample_images(model, remain, args.num_per_class, seed=args.seed, desc=name)
        rows.append({"model": name, "ink": ink(images)})
    print(format_table(["model", "ink"], [[r["model"], r["ink"]] for r in rows], title="ink of the remaining classes"))
    args.output.mkdir(parents=True, exist_ok=True)
    write_csv(args.output / "ink.csv", rows)
    record = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    write_json(args.output / "ink.json", {"arguments": record, "ink": rows, "versions": library_versions()})


if __name__ == "__main__":
    main()
