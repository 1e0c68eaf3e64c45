"""The standard classification-unlearning metrics, all in percent.

- FA / RA / TA: accuracy on the forget set, the remain set and the test set.
- MIA: a membership-inference attack on the prediction entropy. A logistic regression is fitted to tell
  remain samples (members, label 1) from test samples (non-members, label 0), class-balanced by drawing
  as many remain samples as there are test samples; MIA is the share of forget samples it calls members.
- KL to retrain: mean over the forget set of KL(p_retrain ‖ p_model).
- Average gap: mean over FA, RA, TA, MIA of |metric − metric of the retrained model|.

The logistic regression is a few lines of torch (L-BFGS on the standardised feature, L2 penalty ½w²
like scikit-learn's default C = 1), so scikit-learn is not needed. It is fitted under the hypothesis every
entropy attack makes, lower entropy = more likely a member (w ≤ 0). Where members and non-members cannot
be told apart (MNIST's test set is, if anything, predicted more confidently than its training set) an
unconstrained fit picks the sign of w from noise and flips every call; the constrained fit ends at w = 0,
where the attack takes its limit w → 0⁻: member iff the entropy is below the pooled mean. `MIA_attack_acc`
(balanced accuracy of the attack on the samples it was fitted on) says how much skill it has.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..classifier import predict_proba
from ..data import LabeledImages
from .splits import UnlearningSplits

GAP_METRICS = ("FA", "RA", "TA", "MIA")
DEFAULT_REMAIN_EVAL_SAMPLES = 10_000


def accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of correct top-1 predictions, in percent."""
    if len(labels) == 0:
        return float("nan")
    return 100.0 * (probs.argmax(-1) == labels).float().mean().item()


def entropy(probs: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """H(p) = −Σ_k p_k log p_k per row."""
    return -(probs * (probs + eps).log()).sum(-1)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """KL(p ‖ q) = Σ_k p_k (log p_k − log q_k) per row."""
    return (p * ((p + eps).log() - (q + eps).log())).sum(-1)


@dataclass
class LogisticRegression:
    """σ(w·(x − μ)/s + b) on 1-D features: fitted by `fit_logistic_regression`."""

    weight: float
    bias: float
    mean: float
    scale: float

    def probability(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.weight * self.standardise(features) + self.bias)

    def standardise(self, features: torch.Tensor) -> torch.Tensor:
        return (features.double() - self.mean) / self.scale

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Member (True) or not; at w = 0 the limit w → 0⁻ of the monotone attack: below the pooled mean."""
        if self.weight == 0.0:
            return self.standardise(features) < 0
        return self.weight * self.standardise(features) + self.bias > 0


def fit_logistic_regression(
    features: torch.Tensor, targets: torch.Tensor, l2: float = 1.0, max_iter: int = 100, monotone: bool = False
) -> LogisticRegression:
    """Minimise Σ_i BCE(σ(w x̂_i + b), t_i) + (l2/2)·w² over (w, b); x̂ is the standardised feature.

    `monotone=True` constrains w ≤ 0: the objective is convex, so where the free optimum has w > 0 the
    constrained one has w = 0 and b = logit(mean target).
    """
    x, t = features.double().flatten(), targets.double().flatten()
    mean, scale = x.mean().item(), x.std().clamp_min(1e-12).item()
    x = (x - mean) / scale
    params = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = params[0] * x + params[1]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="sum") + 0.5 * l2 * params[0] ** 2
        loss.backward()
        return loss

    optimizer.step(closure)
    weight, bias = params.detach().tolist()
    if monotone and weight > 0:
        weight, bias = 0.0, torch.logit(t.mean().clamp(1e-6, 1 - 1e-6)).item()
    return LogisticRegression(weight, bias, mean, scale)


def entropy_attack(
    remain_probs: torch.Tensor, test_probs: torch.Tensor, seed: int = 0
) -> tuple[LogisticRegression, float]:
    """The attack fitted on as many remain (member) as test (non-member) samples, and its balanced accuracy (%)."""
    n = min(len(remain_probs), len(test_probs))
    generator = torch.Generator().manual_seed(seed)
    members = remain_probs[torch.randperm(len(remain_probs), generator=generator)[:n]]
    non_members = test_probs[torch.randperm(len(test_probs), generator=generator)[:n]]
    features = torch.cat([entropy(members), entropy(non_members)])
    targets = torch.cat([torch.ones(n), torch.zeros(n)])
    attack = fit_logistic_regression(features, targets, monotone=True)
    calls = attack.predict(features)
    balanced = 50.0 * (calls[:n].double().mean() + (~calls[n:]).double().mean()).item()
    return attack, balanced


def membership_inference(
    remain_probs: torch.Tensor, test_probs: torch.Tensor, forget_probs: torch.Tensor, seed: int = 0
) -> float:
    """Share (%) of forget samples called members by an entropy attack fitted on remain (members) vs test."""
    attack, _ = entropy_attack(remain_probs, test_probs, seed)
    return 100.0 * attack.predict(entropy(forget_probs)).double().mean().item()


def average_gap(metrics: dict[str, float], reference: dict[str, float], keys: tuple[str, ...] = GAP_METRICS) -> float:
    """Mean of |metrics[k] − reference[k]| over `keys` (percentage points)."""
    return sum(abs(metrics[k] - reference[k]) for k in keys) / len(keys)


def remain_eval_subset(remain: LabeledImages, samples: int | None, seed: int = 0) -> LabeledImages:
    """The remain samples RA and the attack's members are measured on: a seeded subset of `samples`, or all."""
    if samples is None or samples >= len(remain):
        return remain
    idx = torch.randperm(len(remain), generator=torch.Generator().manual_seed(20_000 + seed))[:samples]
    return remain.subset(idx.sort().values)


def evaluate_classifier(
    model: nn.Module,
    splits: UnlearningSplits,
    retrained: nn.Module | None = None,
    retrained_metrics: dict[str, float] | None = None,
    remain_eval_samples: int | None = DEFAULT_REMAIN_EVAL_SAMPLES,
    seed: int = 0,
) -> dict[str, float]:
    """FA, RA, TA, MIA (+ test accuracy on a forgotten class); KL and average gap when the retrained model is given.

    RA and the attack's members use `remain_eval_samples` seeded remain samples (None: all of them).
    """
    remain = remain_eval_subset(splits.remain, remain_eval_samples, seed)
    forget_probs = predict_proba(model, splits.forget.images)
    remain_probs = predict_proba(model, remain.images)
    test_probs = predict_proba(model, splits.test.images)
    metrics = {
        "FA": accuracy(forget_probs, splits.forget.labels),
        "RA": accuracy(remain_probs, remain.labels),
        "TA": accuracy(test_probs, splits.test.labels),
    }
    attack, metrics["MIA_attack_acc"] = entropy_attack(remain_probs, test_probs, seed)
    metrics["MIA"] = 100.0 * attack.predict(entropy(forget_probs)).double().mean().item()
    if splits.test_forget is not None:
        metrics["TA_forget_class"] = accuracy(
            predict_proba(model, splits.test_forget.images), splits.test_forget.labels
        )
    if retrained is not None:
        reference_probs = predict_proba(retrained, splits.forget.images)
        metrics["KL_to_retrain"] = kl_divergence(reference_probs, forget_probs).mean().item()
    if retrained_metrics is not None:
        metrics["avg_gap"] = average_gap(metrics, retrained_metrics)
    return metrics
