"""Train the shipped MNIST (or Fashion-MNIST) classifier that judges generated samples.

    python scripts/train_reference_classifier.py --dataset mnist --output runs/mnist-classifier

Adam with a one-cycle schedule, small random shifts and rotations as augmentation; prints and
records the test accuracy (per class too) in --output/train.json next to the saved model.
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
from gen_unlearn.io import library_versions, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--data-root")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train = load_dataset(args.dataset, args.data_root, train=True)
    test = load_dataset(args.dataset, args.data_root, train=False)
    model = SmallCNN(num_classes=train.num_classes, id2label={str(i): n for i, n in enumerate(train.class_names)})
    steps_per_epoch = len(train) // args.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.epochs * steps_per_epoch)
    augment = v2.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train))
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}")
        for i in bar:
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            x = augment(train.images[idx]).float() / 255.0
            loss = F.cross_entropy(model(x), train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    wall = time.time() - start
    predictions = predict_proba(model, test.images).argmax(-1)
    accuracy = (predictions == test.labels).float().mean().item()
    per_class = {
        name: (predictions[test.labels == c] == c).float().mean().item() for c, name in enumerate(test.class_names)
    }
    print(f"test accuracy {accuracy:.4f}; per class " + ", ".join(f"{k} {v:.3f}" for k, v in per_class.items()))
    model.eval()
    model.save_pretrained(args.output)
    write_json(
        args.output / "train.json",
        {
            "dataset": args.dataset,
            "test_accuracy": accuracy,
            "test_accuracy_per_class": per_class,
            "wall_time_s": round(wall, 1),
            "args": vars(args),
            "hardware": f"CPU, {torch.get_num_threads()} threads",
            "parameters": sum(p.numel() for p in model.parameters()),
            "versions": library_versions(),
        },
    )


if __name__ == "__main__":
    main()
