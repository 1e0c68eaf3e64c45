from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_ddpm, tiny_dit

from gen_unlearn.sampling import sample_images, sample_index, sample_seed


@pytest.mark.parametrize("kind", ["ddpm", "dit"])
def test_each_seed_draws_its_own_samples(kind: str) -> None:
    pipe = tiny_ddpm() if kind == "ddpm" else tiny_dit()

    def draw(seed: int, batch_size: int = 250) -> np.ndarray:
        images, _ = sample_images(
            pipe, [1, 2], 2, num_inference_steps=2, seed=seed, batch_size=batch_size, progress=False
        )
        return images

    one = draw(1)
    assert not np.array_equal(draw(0), one), "seed 1 must not draw seed 0's samples (torch keeps 32 bits)"
    assert np.array_equal(one, draw(1, batch_size=1)), "a seed's samples do not depend on the batch size"


def test_sample_seeds_fit_32_bits_are_distinct_and_seed_0_keeps_the_index() -> None:
    indices = [sample_index(c, j) for c in (0, 1, 999) for j in (0, 1, 5000)]
    assert [sample_seed(0, i) for i in indices] == indices, "seed 0's samples stay what they were"
    seeds = [sample_seed(s, i) for s in range(50) for i in indices]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**32 for s in seeds)
