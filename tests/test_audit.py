"""`audit`: leaks, the guidance sweep, the relearning attack and memorisation, on a tiny pipeline and real MNIST."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import cpu_state, tiny_ddpm

from gen_unlearn.classifier import SmallCNN
from gen_unlearn.evaluation.audit import AuditConfig, audit, nearest_distances

TINY = AuditConfig(num_samples=4, guidance_scales=(0.0, 2.0), relearn_images=(5,), relearn_steps=(1, 3),
                   relearn_samples=4, num_inference_steps=2, progress=False)  # fmt: skip


def test_null_label_samples_are_guidance_zero_whatever_the_label() -> None:
    pipe = tiny_ddpm()
    one, two = (pipe([c], guidance_scale=0.0, generator=torch.manual_seed(3), output_type="pt").images for c in (1, 2))
    assert torch.equal(one, two), "at guidance 0 the label has no effect: these are the null label's samples"


def test_nearest_distance_is_zero_for_a_training_image_and_rms_otherwise() -> None:
    train = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
    train[1] = 255
    samples = np.stack([np.full((2, 2, 1), 255, np.uint8), np.full((2, 2, 1), 51, np.uint8)])
    assert nearest_distances(samples, train) == pytest.approx([0.0, 0.2])


def test_audit_measures_every_figure_beside_the_original_and_leaves_both_untouched(data_root, tmp_path) -> None:
    erased, original = tiny_ddpm(num_classes=10), tiny_ddpm(num_classes=10)
    with torch.no_grad():
        next(erased.unet.parameters()).mul_(0.5)  # another model
    before = cpu_state(erased.unet)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=10, in_channels=1, image_size=8, reject=True)
    report = audit(erased, "3,7", original, classifier=classifier, data_root=data_root, config=TINY)
    assert report.forget_class == [3, 7] and set(report.results) == {"erased", "original"}
    for result in report.results.values():
        leak = result["leakage"]
        assert 0 <= leak["null_label_leakage"] <= 1 and 0 <= leak["other_label_leakage"] <= 1
        assert set(leak["guidance_sweep_fa"]) == {"0", "2"} and set(leak["guidance_sweep_fa"]["2"]) == {"3", "7"}
        assert set(leak["other_label_leakage_per_label"]) == {str(c) for c in range(10) if c not in (3, 7)}
        attack = result["relearning"]["5"]
        assert set(attack["fa_after_steps"]) == {"1", "3"} and attack["num_images"] == 5
        assert attack["steps_to_fa_over_50"] in (None, 1, 3)
        memorised = result["memorisation"]["3"]
        assert memorised["real_held_out_images"]["count"] == 200 and memorised["real_held_out_images"]["median"] > 0
    for (name, a), b in zip(before.items(), cpu_state(erased.unet).values(), strict=True):
        assert torch.equal(a, b), f"the attack fine-tunes a copy: {name} changed"
    table = report.table()
    assert "null-label leakage %" in table and "relearn on 5 images: FA % after 3 steps" in table
    assert "erased" in table.splitlines()[2] and "original" in table.splitlines()[2]
    report.save(tmp_path / "audit.json")
    assert json.loads((tmp_path / "audit.json").read_text())["protocol"]["null_label"].startswith("guidance 0")


def test_without_real_images_the_attack_is_not_measured(tmp_path) -> None:
    pipe = tiny_ddpm(num_classes=10)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=10, in_channels=1, image_size=8, reject=True)
    report = audit(pipe, 3, classifier=classifier, data_root=tmp_path / "nothing", config=TINY)
    assert "relearning" not in report.results["erased"]
    assert report.protocol["relearning_and_memorisation"].startswith("not measured")


def test_other_label_leakage_on_a_seeded_choice_of_labels_and_bad_settings() -> None:
    pipe = tiny_ddpm(num_classes=10)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=10, in_channels=1, image_size=8, reject=True)
    config = AuditConfig(**{**TINY.__dict__, "relearn_images": (1,), "remain_classes": 3})
    report = audit(pipe, 3, classifier=classifier, data_root="/nonexistent", config=config)
    chosen = report.results["erased"]["leakage"]["other_label_leakage_per_label"]
    assert len(chosen) == 3 and "3" not in chosen
    with pytest.raises(ValueError, match="must be at least 1"):
        AuditConfig(num_samples=0)


def test_an_interrupted_audit_resumes_from_the_pipelines_already_measured(tmp_path, monkeypatch) -> None:
    import gen_unlearn.evaluation.audit as audit_module

    erased, original = tiny_ddpm(num_classes=10), tiny_ddpm(num_classes=10)
    with torch.no_grad():
        next(erased.unet.parameters()).mul_(0.5)
    torch.manual_seed(0)
    classifier = SmallCNN(num_classes=10, in_channels=1, image_size=8, reject=True)
    measured = []
    real = audit_module.audit_pipeline
    monkeypatch.setattr(audit_module, "audit_pipeline", lambda pipe, *a: measured.append(pipe) or real(pipe, *a))
    common = {"classifier": classifier, "data_root": tmp_path / "nothing", "resume_dir": tmp_path / "partial"}
    first = audit(erased, 3, original, config=TINY, **common)
    assert measured == [erased, original] and {p.name for p in (tmp_path / "partial").iterdir()} == {
        "erased.json", "original.json"}  # fmt: skip

    (tmp_path / "partial" / "original.json").unlink()  # as if stopped while auditing the original
    again = audit(erased, 3, original, config=TINY, **common)
    assert measured[2:] == [original], "only the pipeline not yet measured is audited again"
    assert again.results["erased"] == first.results["erased"]

    changed = AuditConfig(**{**TINY.__dict__, "num_samples": 3})
    audit(erased, 3, original, config=changed, **common)
    assert measured[3:] == [erased, original], "other settings: nothing is read back"
