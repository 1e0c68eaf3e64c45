"""Classification-side unlearning: losses by hand, the extrapolation formula, ∇τ's switch, metrics, real short runs."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from gen_unlearn.classification import (
    CLASSIFICATION_METHODS,
    ClassificationExperiment,
    TrainConfig,
    UnlearningDivergedError,
    build_classifier,
    classification_method_config,
    evaluate_classifier,
    make_splits,
    resnet18_cifar,
    resolve_method,
    train_classifier,
    unlearn_classifier,
)
from gen_unlearn.classification.bad_teacher import bad_teacher_loss
from gen_unlearn.classification.base import batch_accuracy
from gen_unlearn.classification.experiment import _load_trained, _save_trained
from gen_unlearn.classification.gradient_ascent import GradientAscent, gradient_ascent_loss
from gen_unlearn.classification.gradtau import GradTau, alpha_at, gradtau_loss, initial_alpha
from gen_unlearn.classification.memorize_to_forget import (
    MemorizeToForget,
    MomentumExtrapolation,
    extrapolate,
    memorization_loss,
    warmup_linear_lr,
)
from gen_unlearn.classification.metrics import (
    accuracy,
    average_gap,
    entropy,
    entropy_attack,
    fit_logistic_regression,
    kl_divergence,
    membership_inference,
)
from gen_unlearn.classification.neggrad_plus import NegGradPlus, neggrad_plus_loss
from gen_unlearn.classification.random_labels import RandomLabels, relabel_loss
from gen_unlearn.classification.scrub import distill_kl, scrub_max_loss, scrub_min_loss
from gen_unlearn.classification.sfron import SFROn, sfron_forget_loss
from gen_unlearn.classification.training import lr_at
from gen_unlearn.classifier import predict_proba
from gen_unlearn.cli import main
from gen_unlearn.data import LabeledImages, load_dataset

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)
# Two-class logits with known cross-entropies: [0, 0] → ln 2 for either label; [ln 3, 0] → ln(4/3) for
# label 0 (p = 3/4) and ln 4 for label 1 (p = 1/4).
EVEN = [0.0, 0.0]
SKEWED = [LN3, 0.0]


def logits(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def labels(*values: int) -> torch.Tensor:
    return torch.tensor(values)


# -- losses by hand -------------------------------------------------------------------------------------


def test_neggrad_plus_loss_by_hand() -> None:
    # remain CE = mean(ln 2, ln(4/3)); forget CE = ln 4
    loss = neggrad_plus_loss(logits(EVEN, SKEWED), labels(0, 0), logits(SKEWED), labels(1), beta=0.9)
    expected = 0.9 * (LN2 + math.log(4 / 3)) / 2 - 0.1 * LN4
    assert loss.item() == pytest.approx(expected)


def test_gated_forget_terms_by_hand() -> None:
    # a forgotten forget batch: NegGrad+ and RL keep their remain terms only
    remain, remain_labels = logits(EVEN, SKEWED), labels(0, 0)
    neggrad = neggrad_plus_loss(remain, remain_labels, logits(SKEWED), labels(1), beta=0.9, ascend=False)
    assert neggrad.item() == pytest.approx(0.9 * (LN2 + math.log(4 / 3)) / 2)
    relabel = relabel_loss(logits(SKEWED), labels(1), logits(SKEWED), labels(0), remain_weight=0.5, forget=False)
    assert relabel.item() == pytest.approx(0.5 * math.log(4 / 3))


def test_gradtau_loss_by_hand() -> None:
    forget, remain = torch.tensor([0.1, 0.3]), torch.tensor([1.0, 2.0])
    # α·ReLU(0.5 − 0.2)² + (1 − α)·1.5 with α = 0.2
    assert gradtau_loss(forget, remain, val_loss=0.5, alpha=0.2).item() == pytest.approx(0.2 * 0.09 + 0.8 * 1.5)
    assert alpha_at(0.3, 0, 100) == pytest.approx(0.3)
    assert alpha_at(0.3, 50, 100) == pytest.approx(0.15)
    assert initial_alpha(0.1) == pytest.approx(1 / 6)
    assert initial_alpha(0.9) == 1.0


def test_gradtau_memory_term_switches_off_at_the_target() -> None:
    def forget_gradient(forget_values: list[float]) -> torch.Tensor:
        forget = torch.tensor(forget_values, requires_grad=True)
        gradtau_loss(forget, torch.tensor([1.0]), val_loss=0.5, alpha=0.5).backward()
        return forget.grad

    below = forget_gradient([0.1, 0.3])  # mean 0.2 < 0.5: ascent, d/dℓ_i = −2α(0.5 − 0.2)/2
    assert torch.allclose(below, torch.full((2,), -2 * 0.5 * 0.3 / 2))
    at_target = forget_gradient([0.4, 0.6])  # mean 0.5: the ReLU is off
    above = forget_gradient([2.0, 3.0])
    assert torch.equal(at_target, torch.zeros(2)) and torch.equal(above, torch.zeros(2))
    assert gradtau_loss(torch.tensor([2.0, 3.0]), torch.tensor([1.0]), 0.5, alpha=0.5).item() == pytest.approx(0.5)


def test_memorization_loss_and_extrapolation_formula() -> None:
    # identical remain predictions: KL = 0, so the loss is the forget CE (ln 4)
    same = logits(SKEWED, EVEN)
    assert memorization_loss(logits(SKEWED), labels(1), same, same.clone()).item() == pytest.approx(LN4)
    # KL(h_ref ‖ h_θ) with h_ref = (1/2, 1/2), h_θ = (3/4, 1/4): ½ ln(2/3) + ½ ln 2 = ½ ln(4/3)
    kl_only = memorization_loss(logits(SKEWED), labels(0), logits(SKEWED), logits(EVEN), kl_weight=2.0)
    assert kl_only.item() == pytest.approx(math.log(4 / 3) + 2 * 0.5 * math.log(4 / 3))

    reference = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0])}
    memorized = {"w": torch.tensor([1.5, 1.0]), "b": torch.tensor([-1.0])}
    forget = extrapolate(reference, memorized, alpha=4.0)
    assert torch.allclose(forget["w"], torch.tensor([1.0 + 4 * (1.0 - 1.5), 2.0 + 4 * (2.0 - 1.0)]))
    assert torch.allclose(forget["b"], torch.tensor([4.0]))
    assert torch.allclose(forget["w"], 5 * reference["w"] - 4 * memorized["w"])  # (1 + α)θ_ref − αθ_mem


def test_sfron_forget_loss_by_hand() -> None:
    # ℓ = (ln 2, ln 4) = (a, 2a); w ∝ ℓ^-½ normalised to mean 1: w = 2·(1, 2^-½) / (1 + 2^-½)
    a = LN2
    w1, w2 = 2 / (1 + 2**-0.5), 2 * 2**-0.5 / (1 + 2**-0.5)
    loss = sfron_forget_loss(logits(EVEN, SKEWED), labels(0, 1), alpha_f=25.0, lam=0.5)
    assert loss.item() == pytest.approx(-25.0 * (w1 * a + w2 * 2 * a) / 2)
    plain = sfron_forget_loss(logits(EVEN, SKEWED), labels(0, 1), alpha_f=1.0, lam=0.0)
    assert plain.item() == pytest.approx(-(a + 2 * a) / 2)  # λ = 0: plain ascent


def test_relabel_and_ascent_losses_by_hand() -> None:
    # forget sample relabelled to 1 (CE ln 4), remain sample of class 0 (CE ln(4/3))
    loss = relabel_loss(logits(SKEWED), labels(1), logits(SKEWED), labels(0), remain_weight=0.5)
    assert loss.item() == pytest.approx(LN4 + 0.5 * math.log(4 / 3))
    assert gradient_ascent_loss(logits(EVEN, SKEWED), labels(0, 1)).item() == pytest.approx(-(LN2 + LN4) / 2)


def test_batch_accuracy_by_hand() -> None:
    # arg-max of [0, 0] is class 0 (the first), of [ln 3, 0] class 0, of [0, 1] class 1
    assert batch_accuracy(logits(EVEN, SKEWED, [0.0, 1.0]), labels(0, 1, 1)) == pytest.approx(200 / 3)
    assert batch_accuracy(logits(SKEWED, SKEWED), labels(1, 1)) == 0.0


def test_scrub_losses_by_hand() -> None:
    # KL(teacher (½, ½) ‖ student (¾, ¼)) = ½ ln(4/3) at T = 1
    student, teacher = logits(SKEWED), logits(EVEN)
    assert distill_kl(student, teacher, 1.0).item() == pytest.approx(0.5 * math.log(4 / 3))
    # T = 2: student logits halved, q = (√3, 1)/(√3 + 1); times T² = 4
    q1, q2 = math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1)
    kl_t2 = 0.5 * math.log(0.5 / q1) + 0.5 * math.log(0.5 / q2)
    assert distill_kl(student, teacher, 2.0).item() == pytest.approx(4 * kl_t2)
    assert scrub_max_loss(student, teacher, 2.0).item() == pytest.approx(-4 * kl_t2)
    min_loss = scrub_min_loss(student, teacher, labels(1), 1.0, ce_weight=0.99, kl_weight=0.001)
    assert min_loss.item() == pytest.approx(0.99 * LN4 + 0.001 * 0.5 * math.log(4 / 3))


def test_bad_teacher_loss_by_hand() -> None:
    # sample 0 is remain (good teacher = student: KL 0); sample 1 is forget (bad teacher uniform: ½ ln(4/3))
    student = logits(SKEWED, SKEWED)
    good, bad = logits(SKEWED, SKEWED), logits(EVEN, EVEN)
    loss = bad_teacher_loss(student, good, bad, torch.tensor([False, True]))
    assert loss.item() == pytest.approx(0.5 * math.log(4 / 3) / 2)


# -- metrics ----------------------------------------------------------------------------------------------


def test_accuracy_entropy_kl_and_gap_by_hand() -> None:
    probs = torch.tensor([[0.75, 0.25], [0.5, 0.5], [0.1, 0.9]])
    assert accuracy(probs, labels(0, 1, 1)) == pytest.approx(200 / 3)
    assert entropy(probs[1:2]).item() == pytest.approx(LN2)
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.75, 0.25]])
    assert kl_divergence(p, q).item() == pytest.approx(0.5 * math.log(4 / 3))
    gap = average_gap({"FA": 10, "RA": 98, "TA": 97, "MIA": 20}, {"FA": 0, "RA": 99, "TA": 97, "MIA": 30})
    assert gap == pytest.approx((10 + 1 + 0 + 10) / 4)


def _probs_with_entropy(n: int, confident: bool, generator: torch.Generator) -> torch.Tensor:
    top = (0.97 if confident else 0.4) + 0.02 * torch.rand(n, generator=generator)
    rest = (1 - top)[:, None] / 9
    return torch.cat([top[:, None], rest.expand(n, 9)], dim=1)


def test_mia_separates_a_separable_toy() -> None:
    g = torch.Generator().manual_seed(0)
    members, non_members = _probs_with_entropy(200, True, g), _probs_with_entropy(150, False, g)
    attack, skill = entropy_attack(members, non_members)
    assert attack.weight < 0 and skill == pytest.approx(100.0)
    assert membership_inference(members, non_members, _probs_with_entropy(50, True, g)) == pytest.approx(100.0)
    assert membership_inference(members, non_members, _probs_with_entropy(50, False, g)) == pytest.approx(0.0)


def test_mia_attack_is_monotone_in_entropy() -> None:
    # "members" less confident than non-members: a free fit would call high entropy members, the attack does not
    g = torch.Generator().manual_seed(1)
    members, non_members = _probs_with_entropy(100, False, g), _probs_with_entropy(100, True, g)
    free = fit_logistic_regression(
        torch.cat([entropy(members), entropy(non_members)]), torch.cat([torch.ones(100), torch.zeros(100)])
    )
    assert free.weight > 0
    attack, _ = entropy_attack(members, non_members)
    assert attack.weight == 0.0
    low, high = entropy(_probs_with_entropy(20, True, g)), entropy(_probs_with_entropy(20, False, g))
    assert attack.predict(low).all() and not attack.predict(high).any()  # limit w → 0⁻: below the pooled mean


# -- models, splits, registry -------------------------------------------------------------------------------


def test_resnet18_cifar_stem() -> None:
    model = resnet18_cifar(num_classes=10)
    assert model.net.conv1.kernel_size == (3, 3) and model.net.conv1.stride == (1, 1)
    assert isinstance(model.net.maxpool, torch.nn.Identity)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def toy_data(n_per_class: int = 20, classes: int = 4, seed: int = 0) -> LabeledImages:
    g = torch.Generator().manual_seed(seed)
    labels_ = torch.arange(classes).repeat_interleave(n_per_class)
    images = torch.randint(0, 256, (len(labels_), 1, 8, 8), generator=g, dtype=torch.uint8)
    return LabeledImages("toy", images, labels_, [str(c) for c in range(classes)])


def test_class_wise_and_random_splits() -> None:
    train, test = toy_data(), toy_data(5, seed=1)
    splits = make_splits(train, test, forget_class=2, validation_size=10)
    assert len(splits.validation) == 10 and len(splits.forget) + len(splits.remain) == 70
    assert (splits.forget.labels == 2).all() and not (splits.remain.labels == 2).any()
    assert not (splits.test.labels == 2).any() and (splits.test_forget.labels == 2).all()
    assert splits.setting == "class-2"
    random = make_splits(train, test, forget_fraction=0.1, seed=0, validation_size=10)
    assert len(random.forget) == 7 and len(random.remain) == 63 and len(random.test) == len(test)
    assert torch.equal(random.train.images, splits.train.images)  # the original's data does not depend on the task
    with pytest.raises(ValueError, match="exactly one"):
        make_splits(train, test, validation_size=10)


def test_registry_names_and_settings() -> None:
    expected = {"neggrad+", "gradtau", "memorize-to-forget", "sfron", "salun", "scrub", "bad-teacher", "rl", "ga", "ft"}
    assert expected | {"retrain"} == set(CLASSIFICATION_METHODS)
    assert resolve_method("∇τ") == "gradtau" and resolve_method("MOX") == "memorize-to-forget"
    assert classification_method_config("neggrad+", beta=0.99).beta == 0.99
    with pytest.raises(ValueError, match="has no setting gamma"):
        classification_method_config("neggrad+", gamma=1)
    with pytest.raises(ValueError, match="unknown classification method"):
        resolve_method("nope")


def test_lr_schedules() -> None:
    assert lr_at(0.1, 5, 10, "constant") == 0.1
    assert lr_at(0.1, 5, 10, "cosine") == pytest.approx(0.05)
    assert lr_at(0.1, 0, 10, "warmup-cosine", warmup=0.2) == pytest.approx(0.05)
    assert lr_at(0.1, 2, 10, "warmup-cosine", warmup=0.2) == pytest.approx(0.1)


def test_trained_model_cache_round_trip(tmp_path) -> None:
    model = build_classifier("small-cnn", 4, (1, 8, 8), seed=0)
    from gen_unlearn.classification import UnlearnResult

    _save_trained(tmp_path / "m", UnlearnResult(model, "original", 1.5, {"epochs": 1}), {"kind": "original"})
    loaded = _load_trained(tmp_path / "m", build_classifier("small-cnn", 4, (1, 8, 8), seed=1), "cpu")
    assert loaded.wall_time_s == 1.5 and loaded.config == {"epochs": 1}
    for (name, a), b in zip(model.state_dict().items(), loaded.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


# -- real short runs on MNIST -------------------------------------------------------------------------------


def state_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def mnist_task(data_root):
    """2000 training images (200 a class, 200 held out for validation), 500 test images, forget class 3."""
    train, test = load_dataset("mnist", data_root, train=True), load_dataset("mnist", data_root, train=False)
    g = torch.Generator().manual_seed(0)
    per_class = [torch.nonzero(train.labels == c).flatten() for c in range(10)]
    idx = torch.cat([i[torch.randperm(len(i), generator=g)[:200]] for i in per_class]).sort().values
    splits = make_splits(train.subset(idx), test.subset(torch.arange(500)), forget_class=3, validation_size=200)
    model = build_classifier("small-cnn", 10, splits.image_shape, seed=0)
    original = train_classifier(model, splits.train, TrainConfig(epochs=3, batch_size=64), seed=0).model
    return splits, original, evaluate_classifier(original, splits)


def test_original_model_learnt_the_forget_class(mnist_task) -> None:
    _, _, before = mnist_task
    assert before["FA"] > 80 and before["TA"] > 80


SHORT_RUNS = {name: {} for name in CLASSIFICATION_METHODS}  # each method's defaults
SHORT_RUNS["retrain"] = {"epochs": 3, "batch_size": 64}
SHORT_RUNS["neggrad+"] = {"steps": 30}  # enough on this 10x smaller forget set, and quicker


@pytest.mark.parametrize("method", sorted(SHORT_RUNS))
def test_short_real_run_lowers_forgetting_accuracy(mnist_task, method: str) -> None:
    splits, original, before = mnist_task
    kept = state_of(original)
    result = unlearn_classifier(original, method, splits, seed=0, **SHORT_RUNS[method])
    after = evaluate_classifier(result.model, splits)
    assert after["FA"] < before["FA"] - 10, (method, before["FA"], after["FA"])
    assert after["TA"] > 50, (method, after)  # it forgot the class, not everything
    assert result.wall_time_s > 0 and result.model is not original
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, kept[name]), f"{method} changed the input model's {name}"


def test_gradtau_targets_are_held_out_losses(mnist_task) -> None:
    splits, original, _ = mnist_task
    probs = predict_proba(original, splits.validation.images)
    others = splits.validation.labels != 3
    for target, expected in [
        ("validation", -probs[torch.arange(len(probs)), splits.validation.labels].log().mean()),
        ("forget-label", -probs[others, 3].log().mean()),  # the forgotten label on the other classes' samples
    ]:
        method = GradTau(original, splits, GradTau.Config(target=target))
        method.prepare()
        assert method.val_loss == pytest.approx(expected.item(), rel=1e-4)
    auto = GradTau(original, splits, GradTau.Config())
    auto.prepare()
    assert auto.target == "forget-label" and auto.alpha0 == pytest.approx(5 / 3 * len(splits.forget) / 1800)


def test_forgotten_accuracy_is_zero_for_a_class_and_validation_accuracy_for_a_subset(mnist_task) -> None:
    splits, original, _ = mnist_task
    assert GradientAscent(original, splits, GradientAscent.Config()).forgotten_accuracy() == 0.0
    subset = make_splits(splits.train, splits.test, forget_fraction=0.1, seed=0, validation_size=200)
    probs = predict_proba(original, subset.validation.images)
    expected = 100 * (probs.argmax(1) == subset.validation.labels).float().mean().item()
    assert GradientAscent(original, subset, GradientAscent.Config()).forgotten_accuracy() == pytest.approx(expected)


@pytest.mark.parametrize("method", [GradientAscent, NegGradPlus])
def test_ascent_stops_at_the_first_forgotten_forget_batch(mnist_task, method) -> None:
    splits, original, _ = mnist_task
    extra = {"stop_when_forgotten": True, "beta": 0.95, "explosion_threshold": 1e9} if method is NegGradPlus else {}
    config = method.Config(steps=300, **extra)
    history = method(original, splits, config, seed=0).run().history
    taken = [terms for terms in history if terms]
    assert 0 < len(taken) < 300 and not any(history[len(taken) :])  # stopped early, no step after
    assert taken[-1]["forget_acc"] == 0.0  # the first batch at the target (0%: a forgotten class)
    assert all(terms["forget_acc"] > 0.0 for terms in taken[:-1])


@pytest.mark.parametrize("method", [NegGradPlus, RandomLabels])
def test_forget_term_acts_only_on_batches_not_yet_forgotten(mnist_task, method) -> None:
    splits, original, _ = mnist_task
    history = method(original, splits, method.Config(steps=40), seed=0).run().history
    gate = "ascent" if method is NegGradPlus else "forget"
    assert [terms[gate] for terms in history] == [float(terms["forget_acc"] > 0.0) for terms in history]
    assert any(terms[gate] == 0.0 for terms in history) and history[0][gate] == 1.0  # it switched off, not on
    unbounded = {"explosion_threshold": math.inf} if method is NegGradPlus else {}
    ungated_config = method.Config(steps=40, forget_until_forgotten=False, **unbounded)
    ungated = method(original, splits, ungated_config, seed=0).run().history
    assert all(terms[gate] == 1.0 for terms in ungated)


class RecordingMOX(MemorizeToForget):
    """Memorize-to-Forget that keeps θ_mem after every step (to check θ̄ against its closed form)."""

    def step(self, step: int) -> dict[str, float]:
        terms = super().step(step)
        self.trajectory = [*getattr(self, "trajectory", []), copy.deepcopy(self.memorized_parameters())]
        return terms


def mox(splits, original, **settings) -> MemorizeToForget:
    """A finished run that returned θ_mem (the sweep's way), with θ̄ for α 2 and 8 besides the config's."""
    method = RecordingMOX(original, splits, MemorizeToForget.Config(**settings), seed=0)
    method.extrapolate_at_finish, method.tracked_alphas = False, (2.0, 8.0)
    method.memorized_model = method.run().model
    return method


def test_momentum_average_equals_its_closed_form(mnist_task) -> None:
    # θ̄^T = (1 − η)^T θ_ref + Σ_t η(1 − η)^(T−t) ((1 + α)θ_ref − αθ_mem^t), for every tracked α
    splits, original, _ = mnist_task
    method = mox(splits, original, steps=4)
    eta, reference = method.config.momentum, method.reference_parameters
    assert len(method.trajectory) == 4 and eta == 0.675
    for alpha in (7.0, 2.0, 8.0):
        averaged = method.unlearned_parameters(alpha)
        for name, ref in reference.items():
            expected = (1 - eta) ** 4 * ref
            for t, memorized in enumerate(method.trajectory, start=1):
                expected = expected + eta * (1 - eta) ** (4 - t) * ((1 + alpha) * ref - alpha * memorized[name])
            assert torch.allclose(averaged[name], expected, atol=1e-6), (alpha, name)
            assert not torch.allclose(averaged[name], ref), name  # it moved


def test_momentum_update_by_hand() -> None:
    # η = ½, α = 1: θ_for = 2θ_ref − θ_mem; θ̄^1 = ½(2 − 3) + ½·1 = 0; θ̄^2 = ½(2 − 0) + ½·0 = 1
    average = MomentumExtrapolation({"w": torch.tensor([1.0])}, alphas=[1.0], eta=0.5)
    average.update({"w": torch.tensor([3.0])})
    assert average.averages[1.0]["w"].item() == pytest.approx(0.0)
    average.update({"w": torch.tensor([0.0])})
    assert average.averages[1.0]["w"].item() == pytest.approx(1.0)


def test_plain_variant_extrapolates_the_final_memorization_model(mnist_task) -> None:
    # momentum=None: (1 + α)θ_ref − αθ_mem of the last θ_mem; a momentum run's plain variant is the same model
    # (θ̄ does not feed back into training), which is what the sweep reads
    splits, original, _ = mnist_task
    plain = MemorizeToForget(original, splits, MemorizeToForget.Config(steps=5, momentum=None), seed=0).run().model
    both = mox(splits, original, steps=5)
    final = both.trajectory[-1]
    expected = extrapolate(both.reference_parameters, final, 7.0)
    for name, p in plain.named_parameters():
        assert torch.allclose(p, expected[name], atol=1e-6), name
    from_momentum_run = both.load_unlearned(copy.deepcopy(both.memorized_model), 7.0, momentum=False)
    for a, b in zip(from_momentum_run.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    unlearned = MemorizeToForget(original, splits, MemorizeToForget.Config(steps=5), seed=0).run().model
    for name, p in unlearned.named_parameters():  # the method's default returns θ̄ of its α
        assert torch.allclose(p, both.unlearned_parameters(7.0)[name], atol=1e-6), name
    with pytest.raises(ValueError, match="no momentum average"):
        both.unlearned_parameters(3.0)


def test_targeted_variant_memorizes_the_target_labels(mnist_task) -> None:
    splits, original, _ = mnist_task
    forget = splits.forget

    def target_log_prob(method: MemorizeToForget) -> float:
        probs = predict_proba(method.memorized_model, forget.images)
        return probs[torch.arange(len(forget)), (forget.labels + 1) % 10].log().mean().item()

    targeted, plain = mox(splits, original, steps=20, target="next"), mox(splits, original, steps=20)
    assert target_log_prob(targeted) > target_log_prob(plain) + 1.0  # the target class (y + 1) mod K is learnt
    same = logits(SKEWED, EVEN)  # the loss adds CE(targets): ln 4 + ln(4/3)
    loss = memorization_loss(logits(SKEWED), labels(1), same, same.clone(), forget_targets=labels(0))
    assert loss.item() == pytest.approx(LN4 + math.log(4 / 3))


def test_memorize_to_forget_defaults_and_validation() -> None:
    config = MemorizeToForget.Config()
    assert (config.optimizer, config.weight_decay, config.momentum, config.alpha) == ("adamw", 0.01, 0.675, 7.0)
    assert config.lr_schedule == "warmup-linear" and config.target is None and config.kl_weight == 1.0
    assert config.lr_at(0) == pytest.approx(config.lr / round(0.1 * config.steps))
    for bad in ({"momentum": 0.0}, {"momentum": 1.5}, {"optimizer": "sgd"}, {"alpha": 0}, {"target": "other"}):
        with pytest.raises(ValueError, match="memorize-to-forget"):
            MemorizeToForget.Config(**bad)
    assert MemorizeToForget.Config(momentum=None).momentum is None


def test_warmup_linear_lr_by_hand() -> None:
    # 10 steps, 2 of warm-up: 0.5, 1, then 8/8 .. 1/8 of the base rate
    rates = [warmup_linear_lr(1.0, step, 10, warmup=0.2) for step in range(10)]
    assert rates == pytest.approx([0.5, 1.0, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])


def test_gate_needs_no_forward_pass_when_off(mnist_task) -> None:
    splits, original, _ = mnist_task
    method = SFROn(original, splits, SFROn.Config(forget_until_forgotten=False))
    assert method.remembers_batch(splits.forget.images[:4], splits.forget.labels[:4])  # method.trainer is not built


def test_neggrad_plus_explosion_stops_with_a_clear_error_and_keeps_the_input(mnist_task) -> None:
    splits, original, _ = mnist_task
    kept = state_of(original)
    with pytest.raises(UnlearningDivergedError, match=r"NegGrad\+ diverged at step .*input model is unchanged"):
        unlearn_classifier(original, "neggrad+", splits, beta=0.0, lr=1.0, steps=200, explosion_threshold=20)
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, kept[name]), name


def test_experiment_record_cache_and_cli(mnist_task, tmp_path, monkeypatch, capsys) -> None:
    splits, _, _ = mnist_task
    train_config = TrainConfig(epochs=1, batch_size=64)
    experiment = ClassificationExperiment(splits, train_config=train_config, device="cpu", remain_eval_samples=None)
    record = experiment.run("rl", steps=10)
    json.dumps(record)  # JSON-able as it is
    assert record["method"] == "rl" and record["setting"] == "class-3" and record["config"]["steps"] == 10
    assert set(record["metrics"]) >= {"FA", "RA", "TA", "MIA", "KL_to_retrain", "avg_gap"}
    assert record["time_vs_retrain"] == pytest.approx(record["wall_time_s"] / record["retrain_wall_time_s"])
    retrained = experiment.run("retrain")
    assert retrained["metrics"]["avg_gap"] == 0 and retrained["metrics"]["KL_to_retrain"] == pytest.approx(0, abs=1e-6)
    # a second experiment loads both trained models from the cache: same weights, same recorded wall time
    again = ClassificationExperiment(splits, train_config=train_config, device="cpu")
    assert again.retrained().wall_time_s == experiment.retrained().wall_time_s
    for a, b in zip(
        again.original().model.state_dict().values(), experiment.original().model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)

    # the command line on the same small task (the real one reads the whole dataset)
    monkeypatch.setattr("gen_unlearn.classification.experiment.load_splits", lambda *args, **kwargs: splits)
    output = tmp_path / "result.json"
    args = ["classify", "--forget-class", "3", "--method", "ga", "--set", "steps=10", "--epochs", "1"]
    assert main([*args, "--device", "cpu", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "original" in printed and "retrain" in printed and "ga" in printed and "avg_gap" in printed
    saved = json.loads(output.read_text())
    assert saved["method"] == "ga" and saved["retrain_metrics"]["FA"] == pytest.approx(retrained["metrics"]["FA"])


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    output = tmp_path / "r.json"
    assert main(["classify", "--forget-class", "3", "--method", "nope", "--output", str(output)]) == 2
    assert "unknown classification method 'nope'" in capsys.readouterr().err
    assert main(["classify", "--forget-class", "3", "--method", "rl", "--set", "gamma=1", "--output", str(output)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gen-unlearn classify: error: rl has no setting gamma") and "\n" not in err
    assert main(["classify", "--forget-fraction", "1.5", "--output", str(output)]) == 2
    assert (
        main(["classify", "--forget-class", "3", "--method", "retrain", "--set", "lr=1", "--output", str(output)]) == 2
    )
    assert not output.exists()
