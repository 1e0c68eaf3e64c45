"""Measure the shipped reference models and write their model cards.

    python scripts/measure_reference_quality.py                       # shipped models, 100 samples per class
    python scripts/measure_reference_quality.py --pipelines runs/mnist-ddpm/pipeline --num-per-class 20
    python scripts/measure_reference_quality.py --write-cards          # also (re)write README.md + samples.png

For each pipeline: sample --num-per-class images of every class with the pipeline's saved default
sampler (seeded), classify them with the reference classifier, and print the share put in the
requested class (the target is ≥ 97% on every class). The classifier's own test accuracy is
measured on the real MNIST test set (target ≥ 99.0%). Results go to --output/quality.json. The
classifiers' cards are written by scripts/train_reference_classifier.py, which measures them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gen_unlearn.classifier import predict_proba
from gen_unlearn.data import load_dataset
from gen_unlearn.evaluation import make_grid, sample_images, save_png
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.hub import SHIPPED_PIPELINES, load_classifier, load_pipeline, resolve
from gen_unlearn.io import library_versions, write_json

PIPELINE_TARGET, CLASSIFIER_TARGET = 0.97, 0.99


def measure_pipeline(name: str, classifier: torch.nn.Module, num_per_class: int, seed: int, batch_size: int) -> dict:
    pipeline = load_pipeline(name)
    start = time.time()
    images, labels = sample_images(
        pipeline, range(pipeline.num_classes), num_per_class, seed=seed, batch_size=batch_size, desc=f"sampling {name}"
    )
    wall = time.time() - start
    accuracy = class_accuracy(classify(classifier, images), labels)
    worst_class, worst = accuracy.worst
    sampler, config = type(pipeline.scheduler).__name__, pipeline.scheduler.config
    if "algorithm_type" in config:
        sampler += f" ({config.algorithm_type}{', dynamic thresholding' if config.get('thresholding') else ''})"
    return {
        "pipeline": name,
        "num_per_class": num_per_class,
        "sampler": sampler,
        "num_inference_steps": pipeline.config.default_num_inference_steps,
        "guidance_scale": pipeline.config.default_guidance_scale,
        "seed": seed,
        "accuracy_per_class": {pipeline.class_names[c]: acc for c, acc in accuracy.per_class.items()},
        "accuracy_mean": accuracy.mean,
        "accuracy_worst": worst,
        "worst_class": pipeline.class_names[worst_class],
        "meets_target": worst >= PIPELINE_TARGET,
        "sampling_wall_time_s": round(wall, 1),
        "parameters": sum(p.numel() for p in pipeline.denoiser.parameters()),
        "_grid": make_grid([images[labels == c][:10] for c in range(pipeline.num_classes)]),
    }


def measure_classifier(classifier: torch.nn.Module, data_root: str | None) -> dict:
    test = load_dataset("mnist", data_root, train=False)
    accuracy = class_accuracy(predict_proba(classifier, test.images), test.labels)
    overall = (predict_proba(classifier, test.images).argmax(-1) == test.labels).float().mean().item()
    return {
        "test_accuracy": overall,
        "test_accuracy_per_class": {test.class_names[c]: a for c, a in accuracy.per_class.items()},
        "meets_target": overall >= CLASSIFIER_TARGET,
    }


def pipeline_card(name: str, result: dict, train: dict, vae_train: dict | None = None) -> str:
    rows = "\n".join(f"| {cls} | {acc * 100:.1f}% |" for cls, acc in result["accuracy_per_class"].items())
    kind = "DDPM (UNet2DModel, pixel space)" if "ddpm" in name else "latent DiT (DiTTransformer2DModel + AutoencoderKL)"
    arch = train.get("args", {})
    params = train.get("parameters", result["parameters"])
    optimizer = f"AdamW lr {arch.get('lr')} (warm-up, cosine decay)"
    minutes = train.get("wall_time_s", 0) / 60
    vae_line = ""
    if vae_train:
        vae_line = (
            f"- VAE: `AutoencoderKL` 1×28×28 -> 4×7×7, {vae_train['steps']} steps in "
            f"{vae_train['wall_time_s'] / 60:.0f} min (`scripts/train_mnist_vae.py`), test reconstruction MSE "
            f"{vae_train['test_mse']:.4f} on [-1, 1] images, scaling factor {vae_train['scaling_factor']:.3f}\n"
        )
    return f"""---
library_name: diffusers
tags: [class-conditional, classifier-free-guidance, mnist, gen_unlearn]
---
# {name}: class-conditional MNIST {kind}

The reference pipeline that gen_unlearn ships for its tests and examples. Load it offline with
`gen_unlearn.load_pipeline("{name}")` or `gen-unlearn sample {name} --class 3 --output out/`.

## Data
MNIST training set (60,000 images, 28×28 grey, 10 classes), images scaled to [-1, 1]; label dropout
{arch.get("label_dropout", 0.1)} for classifier-free guidance (null label = 10).

## Training
- {params:,} denoiser parameters; epsilon prediction, cosine noise schedule, 1000 steps
- {train.get("steps")} optimizer steps at batch {arch.get("batch_size")}, {optimizer},
  EMA {arch.get("ema_decay")} (the EMA weights are what is shipped), bf16 autocast
- wall time {minutes:.0f} min on {train.get("hardware")}
- script: `scripts/train_reference_diffusion.py {train.get("arch", "")}`
{vae_line}
## Default sampler
{result["sampler"]}, {result["num_inference_steps"]} steps, guidance scale {result["guidance_scale"]}.

## Measured quality
{result["num_per_class"]} samples per class (seed {result["seed"]}), classified by the shipped `mnist-classifier`;
share of samples put in the requested class (target ≥ {PIPELINE_TARGET:.0%} on every class), measured by
`scripts/measure_reference_quality.py`:

| class | accuracy |
|---|---|
{rows}

Mean {result["accuracy_mean"] * 100:.1f}%, worst {result["accuracy_worst"] * 100:.1f}% ({result["worst_class"]}).
Sampling {result["num_per_class"] * 10} images took {result["sampling_wall_time_s"]:.0f} s on the CPU.

![samples](samples.png)

One row per class, the first ten samples of the measurement.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", nargs="+", default=list(SHIPPED_PIPELINES))
    parser.add_argument("--classifier", default="mnist-classifier")
    parser.add_argument("--num-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--data-root")
    parser.add_argument("--output", type=Path, default=Path("runs/quality"))
    parser.add_argument("--write-cards", action="store_true", help="write README.md and samples.png into the models")
    args = parser.parse_args()

    classifier = load_classifier(args.classifier)
    results = {"classifier": measure_classifier(classifier, args.data_root), "pipelines": {}}
    for name in args.pipelines:
        results["pipelines"][name] = measure_pipeline(name, classifier, args.num_per_class, args.seed, args.batch_size)

    print(f"\nclassifier {args.classifier}: MNIST test accuracy {results['classifier']['test_accuracy'] * 100:.2f}%")
    names = results["pipelines"]
    print(f"\n{'class':<8}" + "".join(f"{n:>14}" for n in names))
    for cls in next(iter(names.values()))["accuracy_per_class"] if names else []:
        print(f"{cls:<8}" + "".join(f"{r['accuracy_per_class'][cls] * 100:>13.1f}%" for r in names.values()))
    print(f"{'worst':<8}" + "".join(f"{r['accuracy_worst'] * 100:>13.1f}%" for r in names.values()))
    print(f"{'time (s)':<8}" + "".join(f"{r['sampling_wall_time_s']:>14.0f}" for r in names.values()))

    args.output.mkdir(parents=True, exist_ok=True)
    for name, result in names.items():
        grid = np.kron(result.pop("_grid"), np.ones((2, 2, 1), np.uint8))  # 2x nearest upscale for viewing
        save_png(grid, args.output / f"{Path(name).name}-samples.png")
        if args.write_cards:
            folder = Path(resolve(name, SHIPPED_PIPELINES, "pipeline"))
            train = json.loads((folder / "train.json").read_text()) if (folder / "train.json").exists() else {}
            save_png(grid, folder / "samples.png")
            vae_file = folder / "vae" / "train.json"
            vae_train = json.loads(vae_file.read_text()) if vae_file.exists() else None
            (folder / "README.md").write_text(pipeline_card(Path(name).name, result, train, vae_train))
            write_json(folder / "quality.json", result)
    results["versions"] = library_versions()
    write_json(args.output / "quality.json", results)
    ok = results["classifier"]["meets_target"] and all(r["meets_target"] for r in names.values())
    print(f"\n{'all targets met' if ok else 'TARGET MISSED'}; results in {args.output / 'quality.json'}")


if __name__ == "__main__":
    main()
