"""Sampling for evaluation, grids, and (with the evaluation issue) forgetting accuracy and FID."""

from .sampling import make_grid, sample_generators, sample_images, save_png, save_samples

__all__ = ["make_grid", "sample_generators", "sample_images", "save_png", "save_samples"]
