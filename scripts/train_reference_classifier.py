"""Train a shipped classifier that judges generated samples: MNIST or Fashion-MNIST, with a "none of these" output.

    python scripts/train_reference_classifier.py --dataset mnist --output runs/mnist-classifier
    python scripts/train_reference_classifier.py --dataset fashion-mnist --epochs 8 --output runs/fashion-classifier

Adam with a one-cycle schedule, small random shifts and rotations as augmentation. With the reject
output (the default), every batch also holds --negatives-share as many images that belong to no
class (`gen_unlearn.negatives`: noise, constant and blurred images, blobs, strokes, lattices, the
other dataset's images), labelled K. Records in --output/train.json, beside the saved model: test accuracy
on real images (a rejected real image counts as an error), per class, the share of real test images
rejected, and the share of held-out negatives of each kind rejected (other seeds, the other dataset's
test split), with the targets: ≥ 99% (MNIST) or ≥ 91% (Fashion-MNIST) accuracy, ≥ 99% of negatives rejected;
quality.json and the model card README.md go beside it (copy the folder into gen_unlearn/pretrained/ to ship it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.transforms import v2
from tqdm.auto import tqdm

from gen_unlearn.classifier import SmallCNN, predict_proba
from gen_unlearn.data import load_dataset
from gen_unlearn.io import atomic_directory, library_versions, write_json
from gen_unlearn.negatives import KINDS, mixed_negatives, synthetic_negatives

OTHER = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}
TARGET_ACCURACY = {"mnist": 0.99, "fashion-mnist": 0.91}
TARGET_REJECTED = 0.99


def measure(model: SmallCNN, test, other_test, seed: int, per_kind: int) -> dict:
    """Accuracy on real test images (reject = error), real images rejected, negatives rejected per kind."""
    predictions = predict_proba(model, test.images).argmax(-1)
    k = model.config.num_classes
    result = {
        "test_accuracy": (predictions == test.labels).float().mean().item(),
        "test_accuracy_per_class": {
            name: (predictions[test.labels == c] == c).float().mean().item() for c, name in enumerate(test.class_names)
        },
        "real_rejected": (predictions == k).float().mean().item() if model.config.reject else 0.0,
    }
    if model.config.reject:
        g = torch.Generator().manual_seed(seed + 1_000_003)  # never a training seed
        shape, rejected = tuple(test.images.shape[1:]), {}
        for kind in KINDS:
            negatives = synthetic_negatives(kind, per_kind, shape, g, test.images, other_test.images)
            rejected[kind] = (predict_proba(model, negatives).argmax(-1) == k).float().mean().item()
        result["negatives_rejected_per_kind"] = rejected
        result["negatives_rejected"] = sum(rejected.values()) / len(rejected)
    return result


def classifier_card(name: str, dataset: str, result: dict, train: dict) -> str:
    """The model card: what it is, how it was trained, and what was measured against its targets."""
    rows = "\n".join(f"| {cls} | {acc * 100:.2f}% |" for cls, acc in result["test_accuracy_per_class"].items())
    args, shown = train["args"], {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[dataset]
    other = {"mnist": "Fashion-MNIST", "fashion-mnist": "MNIST"}[dataset]
    reject = ""
    if args.get("reject", True):
        kinds = "\n".join(f"| {k} | {v * 100:.2f}% |" for k, v in result["negatives_rejected_per_kind"].items())
        reject = f"""
An extra output, index {train["num_classes"]}, says "none of these". It was trained on {args["negatives_share"]:.0%} as
many negatives as real images in every batch (`gen_unlearn.negatives`: uniform and Gaussian noise, constant
and blurred images, blobs, strokes, lattices (a small tile repeated), {other} images), so that an erased class
drawn as a blank square, noise or a repeated pattern is not called a class.

## Negatives rejected
{args["measure_per_kind"]:,} held-out negatives of each kind (other seeds; the other dataset's test split);
**{result["negatives_rejected"] * 100:.2f}%** rejected in all (target ≥ {TARGET_REJECTED:.0%}):

| kind | rejected |
|---|---|
{kinds}

Real test images rejected: {result["real_rejected"] * 100:.2f}%.
"""
    return f"""---
library_name: gen_unlearn
tags: [{dataset}, image-classification, gen_unlearn]
---
# {name}

The classifier that judges generated {shown} images (forgetting accuracy and remaining-class accuracy).
`gen_unlearn.load_classifier("{name}")`; input float images in [0, 1], shape (N, 1, 28, 28).

- `SmallCNN`: two conv blocks (32 and 64 channels, batch norm), a 128-unit hidden layer; {train["parameters"]:,}
  parameters
- trained {args["epochs"]} epochs on the {shown} training set with small random affine augmentation,
  Adam + one-cycle lr {args["lr"]}; wall time {train["wall_time_s"] / 60:.0f} min on {train["hardware"]}
- script: `scripts/train_reference_classifier.py --dataset {dataset} --epochs {args["epochs"]}`
{reject}
## Measured quality
{shown} test set accuracy **{result["test_accuracy"] * 100:.2f}%** (target ≥ {TARGET_ACCURACY[dataset]:.0%}; a
rejected real image counts as an error), measured by `scripts/train_reference_classifier.py`:

| class | accuracy |
|---|---|
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--data-root")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--no-reject", dest="reject", action="store_false", help="only the K classes, no reject output")
    parser.add_argument("--negatives-share", type=float, default=0.25, help="negatives per real image in a batch")
    parser.add_argument("--measure-per-kind", type=int, default=2000, help="held-out negatives of each kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train = load_dataset(args.dataset, args.data_root, train=True)
    test = load_dataset(args.dataset, args.data_root, train=False)
    other_train = load_dataset(OTHER[args.dataset], args.data_root, train=True)
    other_test = load_dataset(OTHER[args.dataset], args.data_root, train=False)
    id2label = {str(i): n for i, n in enumerate(train.class_names)}
    model = SmallCNN(num_classes=train.num_classes, id2label=id2label, reject=args.reject)
    steps_per_epoch = len(train) // args.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.epochs * steps_per_epoch)
    augment = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    negatives_per_batch = round(args.negatives_share * args.batch_size) if args.reject else 0
    generator = torch.Generator().manual_seed(args.seed)
    shape = tuple(train.images.shape[1:])
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train))
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}")
        for i in bar:
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            x, y = augment(train.images[idx]), train.labels[idx]
            if negatives_per_batch:
                negatives = mixed_negatives(negatives_per_batch, shape, generator, train.images, other_train.images)
                x = torch.cat([x, negatives])
                y = torch.cat([y, torch.full((negatives_per_batch,), train.num_classes)])
            loss = F.cross_entropy(model(x.float() / 255.0), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    wall = time.time() - start
    model.eval()
    result = measure(model, test, other_test, args.seed, args.measure_per_kind)
    result["meets_target"] = result["test_accuracy"] >= TARGET_ACCURACY[args.dataset] and (
        not args.reject or result["negatives_rejected"] >= TARGET_REJECTED
    )
    print(
        f"test accuracy {result['test_accuracy']:.4f}, real images rejected {result['real_rejected']:.4f}, "
        f"negatives rejected {result.get('negatives_rejected', 0):.4f} "
        + str({k: round(v, 4) for k, v in result.get("negatives_rejected_per_kind", {}).items()})
    )
    record = {
        "dataset": args.dataset,
        "num_classes": train.num_classes,
        **result,
        "targets": {"test_accuracy": TARGET_ACCURACY[args.dataset], "negatives_rejected": TARGET_REJECTED},
        "wall_time_s": round(wall, 1),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "hardware": f"CPU, {torch.get_num_threads()} thread(s)",
        "parameters": sum(p.numel() for p in model.parameters()),
        "versions": library_versions(),
    }
    with atomic_directory(args.output) as tmp:
        model.save_pretrained(tmp)
        write_json(tmp / "train.json", record)
        write_json(tmp / "quality.json", result)
        name = {"mnist": "mnist-classifier", "fashion-mnist": "fashion-classifier"}[args.dataset]
        (tmp / "README.md").write_text(classifier_card(name, args.dataset, result, record))


if __name__ == "__main__":
    main()
