"""The model stages end to end on the tiny synthetic dataset: tiny images, random weights, one epoch."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from stages import augment, evaluate, features, fetch, fine_tune, select, split, train_head, weights
from steel_defect.errors import UserError
from steel_defect.features import PERTURBED, parse_setting, with_perturbed_validation
from steel_defect.machine import ISAS, describe
from steel_defect.model import assemble, cut_tensors, trainable_part, unfreeze_index
from steel_defect.selection import choose
from tests.conftest import TINY, set_param, tiny_nasnet

METRIC_KEYS = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc_ovr", "loss"]


@pytest.fixture
def data_ready(project: Path) -> Path:
    for key, value in TINY.items():
        set_param(project, key, value)
    fetch.main()
    split.main()
    augment.main()
    return project


def test_pipeline_end_to_end(trained_project: Path, monkeypatch: pytest.MonkeyPatch):
    """The tiny pipeline as `trained` ran it in this process (fetch through export), features once more, then evaluate."""
    assert json.loads(Path("models/backbone/backbone.json").read_text())["weights"] == "random init"
    first = np.load("data/features.npz")["pooled"]

    rows_through_backbone = []
    predict = keras.Model.predict
    monkeypatch.setattr(
        keras.Model, "predict", lambda self, x, **kw: rows_through_backbone.append(len(x)) or predict(self, x, **kw)
    )
    features.main()
    cached = np.load("data/features.npz")
    assert sum(rows_through_backbone) == len(cached["path"]), "the backbone runs exactly once per image and copy"
    assert set(cached["subset"]) == {"train", "val", "test", "augmented"}
    assert "perturbation" not in cached.files, "clean validation (the default) leaves the cache as it was"
    assert cached["pooled"].shape == (len(cached["path"]), 1280)
    np.testing.assert_array_equal(cached["pooled"], first)  # seeded: a rerun caches the same

    monkeypatch.setattr(keras.Model, "predict", predict)
    backbone, fine_tuned = (keras.models.load_model(f"models/{m}.keras") for m in ("backbone/backbone", "fine_tuned"))
    assert_fine_tune_changed_only_layers_after_the_cut(backbone, fine_tuned, TINY["finetune"]["unfreeze_from"]["mobilenet_v2"])
    evaluate.main()

    results = json.loads(Path("metrics/evaluate/metrics.json").read_text())
    for key in [*METRIC_KEYS, "baseline_accuracy", "head_accuracy", "fine_tuned_accuracy"]:
        assert np.isfinite(results[key]), key
        if key != "loss":
            assert 0.0 <= results[key] <= 1.0, key
    assert results["backbone"] == "mobilenet_v2" and results["weights"] == "random init"
    chosen = json.loads(Path("metrics/select.json").read_text())["chosen"]
    assert results["chosen"] == chosen and results["accuracy"] == results[f"{chosen}_accuracy"]
    assert results["params"] == keras.models.load_model("models/deployed/model.keras").count_params()
    assert results["params"] == results[f"{chosen}_params"], "each candidate's size is reported as deployed"
    assert results["baseline_params"] < results["head_params"], "the baseline is one softmax layer on the same backbone"
    assert json.loads(Path("models/deployed/model.json").read_text())["classes"] == ["crazing", "patches", "scratches"]
    assert results["test_images"] == 12
    coverage = json.loads(Path("metrics/evaluate/min_confidence.json").read_text())["thresholds"]
    assert [c["min_confidence"] for c in coverage] == [0.5, 0.9] and coverage[0]["coverage"] >= coverage[1]["coverage"]
    assert all(c["uncertain"] + round(c["coverage"] * 12) == 12 for c in coverage), "every test image: classified or uncertain"
    summary = Path("metrics/evaluate/summary.md").read_text()
    assert f"| deployed model (`chosen`: {chosen}, picked on validation) `accuracy` | **{results['accuracy']:.4f}** (" in summary
    assert "test subset: 12 images" in summary and "mobilenet_v2 (random init)" in summary
    for path in [
        "metrics/train_head/plots/metrics/eval/loss.tsv",
        "metrics/fine_tune/plots/metrics/train/accuracy.tsv",
        "metrics/evaluate/plots/sklearn/confusion_matrix.json",
        "plots/confusion_matrix.png",
        "plots/roc.png",
    ]:
        assert Path(path).exists(), path
    for stage in ("train_head", "fine_tune"):  # where the weights were computed, which decides their last bits
        machine = yaml.safe_load(Path(f"metrics/{stage}/params.yaml").read_text())["machine"]
        assert machine == describe() and machine["isa"] in [name for name, _ in ISAS] + ["unknown"], stage


def assert_fine_tune_changed_only_layers_after_the_cut(before: keras.Model, after: keras.Model, cut: str) -> None:
    index = unfreeze_index(before, cut)
    for layer in before.layers[1:]:
        changed = any(
            not np.array_equal(a, b) for a, b in zip(layer.get_weights(), after.get_layer(layer.name).get_weights(), strict=True)
        )
        frozen = before.layers.index(layer) < index or isinstance(layer, keras.layers.BatchNormalization)
        assert not (frozen and changed), f"{layer.name} changed but should be frozen"
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            before.get_layer("features.5.conv.2").get_weights(), after.get_layer("features.5.conv.2").get_weights(), strict=True
        )
    )


def test_perturbed_validation_is_cached_once_and_watched_by_fine_tune(trained_project: Path, monkeypatch: pytest.MonkeyPatch):
    """finetune.validation: perturbed caches every validation image under each setting, seeded, and fine_tune validates on all."""
    set_param(trained_project, "finetune.validation", "perturbed")
    features.main()
    cached = np.load("data/features.npz")
    subset, perturbation = cached["subset"], cached["perturbation"]
    val = subset == "val"
    settings = ["salt_pepper 0.01", "motion_blur 5.0", "brightness -0.2", "brightness 0.2"]
    assert sorted(set(perturbation[subset == "val_perturbed"])) == sorted(settings)
    assert set(perturbation[subset != "val_perturbed"]) == {""}
    for setting in settings:
        rows = (subset == "val_perturbed") & (perturbation == setting)
        assert list(cached["path"][rows]) == list(cached["path"][val]), "the same validation originals, in order"
        assert not np.array_equal(cached["pooled"][rows], cached["pooled"][val]), f"{setting} changed nothing"
    first = cached["pooled"]
    features.main()
    np.testing.assert_array_equal(np.load("data/features.npz")["pooled"], first)  # seeded: a rerun matches

    watched = []
    real_fit = fine_tune.fit
    monkeypatch.setattr(
        fine_tune,
        "fit",
        lambda part, x, y, x_val, y_val, *a, **kw: watched.append(len(y_val)) or real_fit(part, x, y, x_val, y_val, *a, **kw),
    )
    train_head.main()
    fine_tune.main()
    assert watched == [val.sum() * (1 + len(settings))]

    set_param(trained_project, "select.validation", "perturbed")  # select counts errors on the same settings
    select.main()
    chosen = json.loads(Path("metrics/select.json").read_text())
    for name, s in chosen["candidates"].items():
        extra = s["perturbed"]
        assert sorted(extra["settings"]) == sorted(settings) and extra["images"] == val.sum() * len(settings), name
        assert extra["errors"] == sum(extra["settings"].values()) and np.isfinite(extra["loss"]), name
    n = chosen["val_images"]
    totals = {name: s["errors"] + s["perturbed"]["errors"] for name, s in chosen["candidates"].items()}
    losses = {name: s["loss"] * n + s["perturbed"]["loss"] * s["perturbed"]["images"] for name, s in chosen["candidates"].items()}
    lowest = min(losses, key=losses.get)
    assert chosen["chosen"] == lowest or totals[chosen["chosen"]] < totals[lowest], "lowest log-loss, else fewer errors"
    assert f"{totals[chosen['chosen']]}" in chosen["why"] and "clean and perturbed" in chosen["why"]
    assert json.loads(Path("models/deployed/model.json").read_text())["chosen"] == chosen["chosen"]


def candidate(errors: int, loss: float, n: int = 100) -> dict:
    return {"accuracy": 1 - errors / n, "errors": errors, "loss": loss}


def correct_on(n: int, wrong: list[int]) -> np.ndarray:
    out = np.ones(n, bool)
    out[wrong] = False
    return out


def test_select_keeps_the_lowest_log_loss_when_the_validation_halves_disagree():
    """A one-image edge is noise: the two halves of the validation set pick different winners by count."""
    fine_tuned, head = correct_on(100, [10]), correct_on(100, [70])  # first half: head; second half: fine_tuned
    scores = {"fine_tuned": candidate(1, 0.01), "head": candidate(1, 0.05)}
    assert choose(scores, 100, {"fine_tuned": fine_tuned, "head": head}, 0.05)[0] == "fine_tuned"
    head = correct_on(100, [])  # one error fewer in all, still p = 0.5
    scores["head"] = candidate(0, 0.05)
    best, why = choose(scores, 100, {"fine_tuned": fine_tuned, "head": head}, 0.05)
    assert best == "fine_tuned" and why.startswith("lowest validation log-loss (1.00e-02)") and "head 0 (p = 0.5)" in why


def test_select_deploys_a_candidate_with_significantly_fewer_errors():
    """Right on 6 of the 6 images where they differ: p = 1/64 < 0.05, so the count overrides the log-loss."""
    scores = {"fine_tuned": candidate(6, 0.01), "head": candidate(0, 0.05), "baseline": candidate(5, 0.2)}
    correct = {"fine_tuned": correct_on(100, list(range(6))), "head": correct_on(100, []), "baseline": correct_on(100, [50])}
    best, why = choose(scores, 100, correct, 0.05)
    assert best == "head" and "right on 6 of the 6 images where they differ, sign test p = 0.016 < 0.05" in why
    assert choose(scores, 100, correct, 0.01)[0] == "fine_tuned", "not significant at 1%"


def test_select_counts_perturbed_validation_images_in_the_test():
    """With select.validation: perturbed the copies join the count and the log-loss (weighed by images)."""
    fine_tuned = {**candidate(0, 0.002), "perturbed": {"images": 400, "errors": 3, "loss": 0.05, "settings": {}}}
    head = {**candidate(0, 0.001), "perturbed": {"images": 400, "errors": 4, "loss": 0.04, "settings": {}}}
    correct = {"fine_tuned": correct_on(500, [100, 101, 102]), "head": correct_on(500, list(range(200, 204)))}
    best, why = choose({"fine_tuned": fine_tuned, "head": head}, 100, correct, 0.05)
    assert best == "head" and why.startswith("lowest validation, clean and perturbed, log-loss (3.22e-02)"), why
    head["perturbed"]["errors"] = 12
    correct["head"] = correct_on(500, list(range(200, 212)))
    best, why = choose({"fine_tuned": fine_tuned, "head": head}, 100, correct, 0.05)
    assert best == "fine_tuned" and "3 against 12 in 500; right on 12 of the 15" in why, why


def test_a_perturbed_validation_setting_reads_back_exactly():
    table = pd.DataFrame({"subset": ["train", "val"], "path": ["a.png", "b.png"]})
    out = with_perturbed_validation(table, {"salt_pepper": [0.0123456789012], "motion_blur": [5]})
    labels = list(out.loc[out["subset"] == PERTURBED, "perturbation"])
    assert [parse_setting(label) for label in labels] == [("salt_pepper", 0.0123456789012), ("motion_blur", 5.0)]
    assert list(out.loc[out["subset"] == PERTURBED, "path"]) == ["b.png", "b.png"], "validation rows only"


def test_model_from_the_cut_matches_head_on_cached_features(trained_project: Path):
    """Training from cached cut activations is only valid if that path computes what the full model does."""
    backbone = keras.models.load_model("models/backbone/backbone.keras")
    head = keras.models.load_model("models/head.keras")
    part = trainable_part(assemble(backbone, head), cut_tensors(backbone, unfreeze_index(backbone, "features.4")))
    cached = np.load("data/features.npz")
    np.testing.assert_allclose(part.predict(cached["cut_0"], verbose=0), head.predict(cached["pooled"], verbose=0), atol=1e-5)


def test_head_trains_from_the_cache_alone(trained_project: Path):
    for f in Path("models/backbone").iterdir():
        f.unlink()  # no backbone on disk: train_head must not need one
    Path("models/head.keras").unlink()
    train_head.main()
    assert Path("models/head.keras").exists()


def test_nasnet_from_scratch_end_to_end_with_a_two_tensor_cut(data_ready: Path, monkeypatch: pytest.MonkeyPatch):
    """Through fine_tune, where NASNet differs; select and evaluate load any Keras model alike (MobileNetV2 tests).

    NASNet costs per cell to build, load and trace, so the test cuts it to one normal cell per stage
    (the last is normal_conv_1_3), and each stage left out saves more.
    """
    monkeypatch.setattr(keras.applications, "NASNetMobile", tiny_nasnet)
    set_param(data_ready, "model.backbone", "nasnet_mobile")
    set_param(data_ready, "finetune.unfreeze_from", {"mobilenet_v2": "features.4", "nasnet_mobile": "normal_conv_1_3"})
    weights.main()
    assert json.loads(Path("models/backbone/backbone.json").read_text())["backbone"] == "nasnet_mobile"
    features.main()
    cached = np.load("data/features.npz")
    assert len(cached["cut_names"]) == 2, "NASNet cells read the two previous cells' outputs"
    assert {"cut_0", "cut_1"} <= set(cached.files)
    train_head.main()
    fine_tune.main()
    model = keras.models.load_model("models/fine_tuned.keras")
    probabilities = model.predict(np.full((2, 32, 32, 1), 128, np.float32), verbose=0)
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize(
    "key, value, before, stage, message",
    [
        ("model.backbone", "resnet", [], weights, r"'model.backbone' is 'resnet'; choose one of"),
        ("model.image_size", 8, [], weights, r"'model.image_size' is 8; expected at least 32"),
        ("finetune.unfreeze_from", "no_such_layer", [weights], features, r"'finetune.unfreeze_from' is 'no_such_layer'"),
        ("finetune.unfreeze_from", {"nasnet_mobile": "x"}, [weights], features, r"no entry for backbone 'mobilenet_v2'"),
        ("optimizer", "rmsprop", [weights, features, train_head], fine_tune, r"'optimizer' is 'rmsprop'; choose one of"),
        (
            "finetune.validation",
            "noisy",
            [weights],
            features,
            r"'finetune.validation' is 'noisy'; choose one of clean, perturbed",
        ),
        ("select.validation", "noisy", [], select, r"'select.validation' is 'noisy'; choose one of clean, perturbed"),
        (
            "finetune.validation_perturbations",
            {"dust": [1]},
            [weights],
            features,
            r"'finetune.validation_perturbations.dust' is unknown",
        ),
    ],
)
def test_bad_model_params_are_named(data_ready: Path, key, value, before, stage, message):
    for earlier in before:
        earlier.main()
    set_param(data_ready, key, value)
    with pytest.raises(UserError, match=message):
        stage.main()
    assert not Path("models/fine_tuned.keras").exists()
    assert not list(Path(".").glob("models/.*")), "no temporary output left behind"
