from __future__ import annotations

import pytest
import torch
from torch import nn

from gen_unlearn.saliency import (
    fisher_diagonal,
    fisher_ratio_mask,
    gradient_topk_mask,
    mask_density,
    mask_gradients,
    summed_gradients,
)


def _linear() -> nn.Linear:
    layer = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0]]))
    return layer


def test_fisher_is_the_mean_squared_batch_gradient() -> None:
    layer = _linear()
    batches = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])]
    # L = (w·x)²  ->  ∇w = 2 (w·x) x: batch 1 gives [2, 0], batch 2 gives [0, 36]
    fisher = fisher_diagonal(layer, batches, lambda x: layer(x).pow(2).sum())
    assert torch.allclose(fisher["weight"], torch.tensor([[(4 + 0) / 2, (0 + 1296) / 2]]))
    assert layer.weight.grad is None


def test_fisher_ratio_mask_threshold_is_inclusive() -> None:
    forget = {"w": torch.tensor([1.0, 2.0, 3.0, 0.0])}
    remain = {"w": torch.tensor([2.0, 2.0, 1.0, 1.0])}
    assert fisher_ratio_mask(forget, remain, gamma=1.0)["w"].tolist() == [False, True, True, False]
    assert fisher_ratio_mask(forget, remain, gamma=0.5)["w"].tolist() == [True, True, True, False]
    assert fisher_ratio_mask(forget, remain, gamma=3.0)["w"].tolist() == [False, False, True, False]


def test_gradient_topk_mask_uses_one_threshold_across_parameters() -> None:
    grads = {"a": torch.tensor([0.1, -5.0, 0.2]), "b": torch.tensor([[3.0, -0.3, 4.0]])}
    mask = gradient_topk_mask(grads, fraction=0.5)
    assert mask["a"].tolist() == [False, True, False] and mask["b"].tolist() == [[True, False, True]]
    assert mask_density(mask) == 0.5
    with pytest.raises(ValueError, match="fraction"):
        gradient_topk_mask(grads, 0.0)


def test_summed_gradients() -> None:
    layer = _linear()
    total = summed_gradients(layer, [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])], lambda x: layer(x).sum())
    assert torch.allclose(total["weight"], torch.tensor([[1.0, 3.0]]))


def test_parameters_outside_the_mask_do_not_move() -> None:
    layer = nn.Linear(4, 3)
    mask = {"weight": torch.rand(3, 4) > 0.5, "bias": torch.tensor([True, False, True])}
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        layer(torch.randn(8, 4)).pow(2).sum().backward()
        mask_gradients(layer, mask)
        optimizer.step()
    for name, p in layer.named_parameters():
        moved = p.detach() != before[name]
        assert not moved[~mask[name]].any(), name
        assert moved[mask[name]].all(), name
