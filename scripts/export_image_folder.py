"""Write a torchvision dataset as an image folder (one sub-folder of PNGs per class): real data in the layout
that `gen-unlearn erase --dataset imagefolder` reads, to test that path on data everyone has.

    python scripts/export_image_folder.py --dataset mnist --split train --output runs/mnist-png
    gen-unlearn erase mnist-ddpm --forget-class 7 --dataset imagefolder --data-root runs/mnist-png --output erased-7

Folders are named by class index (0/, 1/, ...) or, with --names, by class name (zero/, one/, ...).
The folder is written atomically: it appears whole or not at all.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from gen_unlearn.data import load_dataset
from gen_unlearn.io import atomic_directory

logger = logging.getLogger("export_image_folder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or cifar10")
    parser.add_argument("--split", default="train", choices=["train", "test"])
    parser.add_argument("--data-root", help="the dataset in torchvision's layout (default: $GEN_UNLEARN_DATA_ROOT)")
    parser.add_argument("--names", action="store_true", help="name the folders by class name instead of index")
    parser.add_argument("--per-class", type=int, help="at most this many images of each class (default: all)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = load_dataset(args.dataset, args.data_root, train=args.split == "train")
    counts: dict[int, int] = {}
    with atomic_directory(args.output) as tmp:
        for image, label in tqdm(zip(data.images, data.labels.tolist(), strict=True), total=len(data), unit="img"):
            j = counts.get(label, 0)
            if args.per_class is not None and j >= args.per_class:
                continue
            counts[label] = j + 1
            folder = tmp / (data.class_names[label] if args.names else str(label))
            folder.mkdir(exist_ok=True)
            array = image.permute(1, 2, 0).numpy()
            Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(folder / f"{j:05d}.png")
    logger.info("wrote %d images of %d classes to %s", sum(counts.values()), len(counts), args.output)


if __name__ == "__main__":
    main()
