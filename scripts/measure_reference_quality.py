"""Measure the shipped reference models and write their model cards.

    python scripts/measure_reference_quality.py                       # shipped models, 100 samples per class
    python scripts/measure_reference_quality.py --pipelines runs/mnist-ddpm/pipeline --num-per-class 20
    python scripts/measure_reference_quality.py --write-cards          # also (re)write README.md + samples.png
    python scripts/measure_reference_quality.py --pipelines fashion-ddpm --guidance 2,3,4   # choose a guidance

For each pipeline: sample --num-per-class images of every class with the pipeline's saved default
sampler (seeded), classify them with the shipped classifier of its dataset (mnist-classifier or
fashion-classifier, unless --classifier), and print the share put in the requested class. Targets:
MNIST ≥ 97% on every class; Fashion-MNIST mean ≥ 90% and every class ≥ 75% (its classifier itself is
right on 91% of real test images, on 63% of real shirts). Classes a retrained reference never saw are
reported, not judged. Each classifier's own test accuracy is measured on its real test set. Results go to
--output/quality.json. `--guidance G1,G2,...` measures at those guidance scales instead of each pipeline's
default (how a default guidance is chosen; model cards describe the default only). The classifiers' cards
are written by scripts/train_reference_classifier.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gen_unlearn.classifier import predict_proba
from gen_unlearn.data import dataset_of, load_dataset
from gen_unlearn.evaluation import make_grid, sample_images, save_png
from gen_unlearn.evaluation.accuracy import class_accuracy, classify
from gen_unlearn.evaluation.classifiers import DEFAULT_CLASSIFIERS
from gen_unlearn.hub import PIPELINE_QUALITY_TARGETS, SHIPPED_PIPELINES, load_classifier, load_pipeline, resolve
from gen_unlearn.io import library_versions, write_json
from gen_unlearn.tables import format_table

# dataset -> (every class ≥, mean ≥) for the pipelines, and the classifier's test accuracy target
CLASSIFIER_TARGETS = {"mnist": 0.99, "fashion-mnist": 0.90}
DATASET_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
GUIDANCE_NOTES = {
    "fashion-mnist": "\nGuidance 3.0 rather than MNIST's 2.0 (`train_reference_diffusion.py --guidance 3.0`): on "
    "`fashion-ddpm` at 2.0,\n72% of 100 shirts were judged shirts (target 75%), at 3.0 88% (pullovers and coats: "
    "100%)."
}


def excluded_classes(name: str) -> list[int]:
    """The classes a retrained reference was trained without (from the train.json beside it)."""
    train = Path(resolve(name, SHIPPED_PIPELINES, "pipeline")) / "train.json"
    return json.loads(train.read_text()).get("excluded_classes", []) if train.is_file() else []


def measure_pipeline(
    name: str, classifier: str | None, num_per_class: int, seed: int, batch_size: int, guidance: float | None = None
) -> dict:
    """Sample every class (at the pipeline's default guidance, or `guidance`) and judge it with the classifier."""
    pipeline = load_pipeline(name)
    dataset = dataset_of(pipeline)
    classifier_name = classifier or DEFAULT_CLASSIFIERS[dataset]
    guidance = pipeline.config.default_guidance_scale if guidance is None else guidance
    start = time.time()
    images, labels = sample_images(
        pipeline, range(pipeline.num_classes), num_per_class, guidance, seed=seed, batch_size=batch_size,
        desc=f"sampling {name} (guidance {guidance})",
    )  # fmt: skip
    wall = time.time() - start
    accuracy = class_accuracy(classify(load_classifier(classifier_name), images), labels)
    excluded = excluded_classes(name)
    judged = {c: a for c, a in accuracy.per_class.items() if c not in excluded}
    worst_class = min(judged, key=judged.get)
    worst, mean = judged[worst_class], float(np.mean(list(judged.values())))
    target = quality_target(dataset)
    sampler, config = type(pipeline.scheduler).__name__, pipeline.scheduler.config
    if "algorithm_type" in config:
        sampler += f" ({config.algorithm_type}{', dynamic thresholding' if config.get('thresholding') else ''})"
    return {
        "pipeline": name,
        "dataset": dataset,
        "classifier": classifier_name,
        "excluded_classes": excluded,
        "num_per_class": num_per_class,
        "sampler": sampler,
        "num_inference_steps": pipeline.config.default_num_inference_steps,
        "guidance_scale": guidance,
        "default_guidance_scale": pipeline.config.default_guidance_scale,
        "seed": seed,
        "accuracy_per_class": {pipeline.class_names[c]: acc for c, acc in accuracy.per_class.items()},
        "accuracy_mean": mean,
        "accuracy_worst": worst,
        "worst_class": pipeline.class_names[worst_class],
        "target": target,
        "meets_target": worst >= target["every_class"] and mean >= target["mean"],
        "sampling_wall_time_s": round(wall, 1),
        "parameters": sum(p.numel() for p in pipeline.denoiser.parameters()),
        "_grid": make_grid([images[labels == c][:10] for c in range(pipeline.num_classes)]),
    }


def quality_target(dataset: str) -> dict[str, float]:
    """The model-card target of a dataset's pipelines (MNIST's for a dataset without one)."""
    worst, mean = PIPELINE_QUALITY_TARGETS.get(dataset, PIPELINE_QUALITY_TARGETS["mnist"])
    return {"every_class": worst, "mean": mean}


def completed(result: dict, name: str) -> dict:
    """A quality record with the fields older records lack (dataset, classifier, excluded classes, target)
    derived the way `measure_pipeline` derives them."""
    dataset = result.setdefault("dataset", dataset_of(load_pipeline(name)))
    result.setdefault("classifier", DEFAULT_CLASSIFIERS[dataset])
    result.setdefault("excluded_classes", excluded_classes(name))
    result.setdefault("target", quality_target(dataset))
    return result


def measure_classifier(name: str, dataset: str, data_root: str | None) -> dict:
    classifier = load_classifier(name)
    test = load_dataset(dataset, data_root, train=False)
    accuracy = class_accuracy(predict_proba(classifier, test.images), test.labels)
    overall = (predict_proba(classifier, test.images).argmax(-1) == test.labels).float().mean().item()
    return {
        "test_accuracy": overall,
        "test_accuracy_per_class": {test.class_names[c]: a for c, a in accuracy.per_class.items()},
        "meets_target": overall >= CLASSIFIER_TARGETS.get(dataset, CLASSIFIER_TARGETS["mnist"]),
    }


def vae_card_line(vae_train: dict, dataset: str, channels: int, size: int) -> str:
    """The model card's VAE line; a decoder trained on over a frozen encoder (`--decoder-of`) names both runs."""
    flags = f" --latent-channels {channels}" if channels != 4 else ""
    flags += f" --latent-size {size}" if size != 7 else ""
    script = f"`scripts/train_mnist_vae.py --dataset {dataset}{flags}`"
    steps = f"{vae_train['steps']} steps in {vae_train['wall_time_s'] / 60:.0f} min ({script})"
    encoder = vae_train.get("encoder_trained_by")
    if encoder:
        steps = (
            f"{encoder['steps']} steps in {encoder['wall_time_s'] / 60:.0f} min ({script}), then the decoder alone "
            f"{vae_train['steps']} more steps with the encoder frozen in {vae_train['wall_time_s'] / 60:.0f} min "
            "(`--decoder-of`)"
        )
    return (
        f"- VAE: `AutoencoderKL` 1×28×28 -> {channels}×{size}×{size}, {steps}, test reconstruction MSE "
        f"{vae_train['test_mse']:.4f} on [-1, 1] images, scaling factor {vae_train['scaling_factor']:.3f}\n"
    )


def pipeline_card(
    name: str, result: dict, train: dict, vae_train: dict | None = None, latent_shape: tuple[int, ...] = ()
) -> str:
    rows = "\n".join(f"| {cls} | {acc * 100:.1f}% |" for cls, acc in result["accuracy_per_class"].items())
    kind = "DDPM (UNet2DModel, pixel space)" if "ddpm" in name else "latent DiT (DiTTransformer2DModel + AutoencoderKL)"
    title = DATASET_TITLES.get(result["dataset"], result["dataset"])
    worst_target, mean_target = result["target"]["every_class"], result["target"]["mean"]
    excluded = result["excluded_classes"]
    names = list(result["accuracy_per_class"])
    without = ", ".join(f"{c} ({names[c]})" for c in excluded)
    purpose = (
        f"The retrained reference: the same recipe as the original, trained without class {without}. It is the gold "
        "standard an unlearning method is compared with (`bench --retrained`, `scripts/benchmark_methods.py`)."
        if excluded
        else "The reference pipeline that gen_unlearn ships for its tests and examples."
    )
    images = train.get("training_images", 60000)
    note = GUIDANCE_NOTES.get(result["dataset"], "")
    arch = train.get("args", {})
    params = train.get("parameters", result["parameters"])
    optimizer = f"AdamW lr {arch.get('lr')} (warm-up, cosine decay)"
    minutes = train.get("wall_time_s", 0) / 60
    vae_line = vae_card_line(vae_train, result["dataset"], *latent_shape[:2]) if vae_train else ""
    return f"""---
library_name: diffusers
tags: [class-conditional, classifier-free-guidance, {result["dataset"]}, gen_unlearn]
---
# {name}: class-conditional {title} {kind}

{purpose} Load it offline with
`gen_unlearn.load_pipeline("{name}")` or `gen-unlearn sample {name} --class 3 --output out/`.

## Data
{title} training set{f" without class {without}" if excluded else ""} ({images:,} images, 28×28 grey, 10 classes),
images scaled to [-1, 1]; label dropout
{arch.get("label_dropout", 0.1)} for classifier-free guidance (null label = 10).

## Training
- {params:,} denoiser parameters; epsilon prediction, cosine noise schedule, 1000 steps
- {train.get("steps")} optimizer steps at batch {arch.get("batch_size")}, {optimizer},
  EMA {arch.get("ema_decay")} (the EMA weights are what is shipped), bf16 autocast
- wall time {minutes:.0f} min on {train.get("hardware")}
- script: `scripts/train_reference_diffusion.py {train.get("arch", "")} --dataset {result["dataset"]}{
        f" --exclude-class {','.join(map(str, excluded))}" if excluded else ""
    }`
{vae_line}
## Default sampler
{result["sampler"]}, {result["num_inference_steps"]} steps, guidance scale {result["guidance_scale"]}.{note}

## Measured quality
{result["num_per_class"]} samples per class (seed {result["seed"]}), classified by the shipped `{result["classifier"]}`;
share of samples put in the requested class (target: every class ≥ {worst_target:.0%}, mean ≥ {mean_target:.0%}{
        "; the excluded class is shown, not judged" if excluded else ""
    }), measured by
`scripts/measure_reference_quality.py`:

| class | accuracy |
|---|---|
{rows}

Mean {result["accuracy_mean"] * 100:.1f}%{" (judged classes)" if excluded else ""},
worst {result["accuracy_worst"] * 100:.1f}% ({result["worst_class"]}).
Sampling {result["num_per_class"] * 10} images took {result["sampling_wall_time_s"]:.0f} s on the CPU.

![samples](samples.png)

One row per class, the first ten samples of the measurement.
"""


def show(result: dict) -> None:
    rows = [[cls, f"{acc * 100:.1f}%"] for cls, acc in result["accuracy_per_class"].items()]
    rows.append(["mean / worst", f"{result['accuracy_mean'] * 100:.1f}% / {result['accuracy_worst'] * 100:.1f}%"])
    print(
        f"\n{result['pipeline']} at guidance {result['guidance_scale']} ({result['classifier']}, "
        f"{result['sampling_wall_time_s']:.0f} s sampling)"
    )
    print(format_table(["class", "accuracy"], rows))


def save(name: str, result: dict, args: argparse.Namespace) -> None:
    """The sample grid under --output; with --write-cards also the model card, grid and quality.json in the model."""
    grid = np.kron(result.pop("_grid"), np.ones((2, 2, 1), np.uint8))  # 2x nearest upscale for viewing
    label = Path(name).name + ("" if result["guidance_scale"] == result["default_guidance_scale"] else
                               f"-guidance{result['guidance_scale']:g}")  # fmt: skip
    save_png(grid, args.output / f"{label}-samples.png")
    if args.write_cards:
        folder = Path(resolve(name, SHIPPED_PIPELINES, "pipeline"))
        save_png(grid, folder / "samples.png")
        write_json(folder / "quality.json", result)
        write_card(folder, Path(name).name, result)


def write_card(folder: Path, name: str, result: dict) -> None:
    """README.md of a model from its measured quality and the train.json files beside it."""
    train = json.loads((folder / "train.json").read_text()) if (folder / "train.json").exists() else {}
    vae_file = folder / "vae" / "train.json"
    vae_train = json.loads(vae_file.read_text()) if vae_file.exists() else None
    latent_shape = load_pipeline(folder).latent_shape if vae_train else ()  # (C, S, S) of the DiT's latents
    (folder / "README.md").write_text(pipeline_card(name, result, train, vae_train, latent_shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", nargs="+", default=list(SHIPPED_PIPELINES))
    parser.add_argument("--classifier", help="default: the shipped classifier of each pipeline's dataset")
    parser.add_argument("--num-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--guidance", help="comma-separated guidance scales to measure (default: each pipeline's own)")
    parser.add_argument("--data-root")
    parser.add_argument("--output", type=Path, default=Path("runs/quality"))
    parser.add_argument("--write-cards", action="store_true", help="write README.md and samples.png into the models")
    parser.add_argument(
        "--cards-only", action="store_true", help="rewrite the model cards from each model's quality.json (no sampling)"
    )
    args = parser.parse_args()

    if args.cards_only:
        for name in args.pipelines:
            folder = Path(resolve(name, SHIPPED_PIPELINES, "pipeline"))
            write_card(folder, Path(name).name, completed(json.loads((folder / "quality.json").read_text()), name))
        return
    results = {"classifiers": {}, "pipelines": {}}
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        scales = [float(g) for g in args.guidance.split(",")] if args.guidance else [None]
    except ValueError:
        parser.error(f"--guidance {args.guidance}: give guidance scales as numbers, e.g. 2,3,4")
    if args.guidance and args.write_cards:
        parser.error("--write-cards describes the default sampler: leave out --guidance")
    for name, guidance in ((n, g) for n in args.pipelines for g in scales):
        result = measure_pipeline(name, args.classifier, args.num_per_class, args.seed, args.batch_size, guidance)
        results["pipelines"][name if guidance is None else f"{name}@guidance={guidance:g}"] = result
        if result["classifier"] not in results["classifiers"]:
            measured = measure_classifier(result["classifier"], result["dataset"], args.data_root)
            results["classifiers"][result["classifier"]] = measured
            print(f"classifier {result['classifier']}: test accuracy {measured['test_accuracy'] * 100:.2f}%")
        show(result)
        save(name, result, args)  # at once: a later pipeline's failure costs nothing measured
    names = results["pipelines"]
    results["versions"] = library_versions()
    write_json(args.output / "quality.json", results)
    ok = all(c["meets_target"] for c in results["classifiers"].values())
    ok = ok and all(r["meets_target"] for r in names.values())
    print(f"\n{'all targets met' if ok else 'TARGET MISSED'}; results in {args.output / 'quality.json'}")


if __name__ == "__main__":
    main()
