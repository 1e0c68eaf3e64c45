"""A random-weight Inception in the FID network's TorchScript layout: for timing where the real weights are absent.

    python scripts/make_random_inception.py --output /tmp/inception   # writes inception-2015-12-05-fid.torchscript.pt

The FID Inception (84 MB) cannot travel to a lent GPU machine, which has no network. This writes torchvision's
inception_v3 with random weights and its classifier removed, traced to TorchScript: it takes what the FID network
takes ((B, 3, 299, 299), scaled to [-1, 1]) and returns (B, 2048) pool features, at the real network's cost. So a
timing made with it (`benchmark_evaluate.py --inception DIR`) is the real one's, and so is a test of the code paths
around it; **its FID values are meaningless**. `gen_unlearn.evaluate` records the file's sha256 with every FID, so a
report made with it cannot pass for one made with the real weights.
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import torch
from torchvision.models import inception_v3

from gen_unlearn.evaluation.features import INCEPTION_DIM, INCEPTION_FILE_NAMES, INCEPTION_SIZE
from gen_unlearn.io import atomic_path

logger = logging.getLogger("make_random_inception")


def random_inception(seed: int = 0, calibration_batches: int = 2) -> torch.jit.ScriptModule:
    """Random weights; the batch-norm statistics are those of uniform noise in [-1, 1] (the untouched defaults
    make every feature vanish or explode, so the features would not depend on the image)."""
    torch.manual_seed(seed)
    network = inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=False)
    network.fc = torch.nn.Identity()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration batches
            module.reset_running_stats()
    with torch.no_grad():
        for _ in range(calibration_batches):
            network(torch.rand(8, 3, INCEPTION_SIZE, INCEPTION_SIZE) * 2 - 1)
    network.eval()
    example = torch.zeros(2, 3, INCEPTION_SIZE, INCEPTION_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notices
        traced = torch.jit.trace(network, example)
        assert traced(example).shape == (2, INCEPTION_DIM)
    return traced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="a folder (the file gets the FID network's name)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = args.output / INCEPTION_FILE_NAMES[0]
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(random_inception(args.seed), str(tmp))
    logger.info("wrote %s (random weights: for timing only, its FID values are meaningless)", path)


if __name__ == "__main__":
    main()
