"""The few-labels learning curve: the draw, class-balanced self-training, and the stage end to end on tiny data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import augment, features, fetch, learning_curve, split, weights
from steel_defect.atomic import write_npz
from steel_defect.curve import METHODS, class_balanced_pick, draw, feasible, per_class_values, render, self_train
from steel_defect.errors import UserError
from steel_defect.features import load_features
from steel_defect.metrics import fit_baseline
from tests.conftest import TINY, set_param
from tests.test_dvc_wiring import ROOT


def test_the_draw_is_exactly_n_per_class_seeded_and_all_takes_everything():
    labels = np.array([0] * 5 + [1] * 7 + [2] * 9)
    first = draw(labels, 3, 3, np.random.default_rng([0, 1, 3]))
    assert np.bincount(labels[first]).tolist() == [3, 3, 3] and len(set(first)) == 9
    assert first.tolist() == draw(labels, 3, 3, np.random.default_rng([0, 1, 3])).tolist(), "same seed, same draw"
    others = {tuple(draw(labels, 3, 3, np.random.default_rng([0, r, 3]))) for r in range(5)}
    assert len(others) > 1, "repeats draw different images"
    assert sorted(draw(labels, "all", 3, np.random.default_rng(0))) == list(range(21))
    with pytest.raises(UserError, match="asks for 6 labelled images per class, but class 'crazing' has only 5"):
        draw(labels, 6, 3, np.random.default_rng(0), ["crazing", "patches", "scratches"])
    assert feasible([1, 5, 6, "all"], {"crazing": 5, "patches": 7}) == (
        [1, 5, "all"],
        {"6": "class 'crazing' has only 5 training images"},
    ), "an N larger than the smallest class is skipped, and the class is named"


@pytest.mark.parametrize("value", [[], [0, 1], ["every"], "5", [True]])
def test_a_bad_grid_is_named(value):
    with pytest.raises(UserError, match="'curve.quick.per_class'"):
        per_class_values(value, "curve.quick.per_class")
    assert per_class_values(["all", 5, 1], "k") == [1, 5, "all"]


def test_class_balanced_pick_takes_the_quota_of_every_class_and_each_image_once():
    probs = np.random.default_rng(0).dirichlet(np.ones(3) * 0.3, size=60)
    probs[:, 0] += 5  # one class wins everywhere: a global confidence ranking would pick only it
    labels = class_balanced_pick(probs, 10)
    counts = np.bincount(labels[labels >= 0], minlength=3)
    assert counts[1] > 0 and counts[2] > 0, "every class gets pseudo-labels"
    assert counts.max() <= 10 and (labels >= 0).sum() <= 30


def test_self_training_learns_from_the_unlabelled_images():
    """Two elongated clusters per class: one label each is ambiguous, the unlabelled images settle it."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = np.concatenate([c + rng.normal(0, 0.6, (80, 2)) for c in centres])
    y = np.repeat(np.arange(3), 80)
    labelled = np.array([0, 80, 160])
    unlabelled = np.setdiff1d(np.arange(240), labelled)
    fit = lambda a, b: fit_baseline(a, b, 1.0, 1000)  # noqa: E731
    model, pseudo = self_train(x[labelled], y[labelled], x[unlabelled], 3, 4, fit)
    picked = pseudo >= 0
    assert picked.mean() > 0.9, "by the last round (almost) every unlabelled image has a pseudo-label"
    assert (pseudo[picked] == y[unlabelled][picked]).mean() > 0.9
    assert (model.predict(x) == y).mean() > 0.9


@pytest.fixture
def cached(project: Path) -> Path:
    for key, value in TINY.items():
        set_param(project, key, value)
    (project / "data").mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "data/literature.csv", project / "data/literature.csv")
    for stage in (fetch, split, augment, weights, features):
        stage.main()
    # A random-init backbone on 32 px images gives features no method can use; replace the pooled
    # features by noisy class centres, so accuracy moves with what a method learns (and reads).
    table, arrays = load_features("data/features.npz")
    codes = pd.factorize(table["class"], sort=True)[0]
    rng = np.random.default_rng(0)
    arrays["pooled"] = (np.eye(3, 1280)[codes] * 2 + rng.normal(0, 1.5, arrays["pooled"].shape)).astype("float32")
    write_npz("data/features.npz", {k: table[k].to_numpy(str) for k in table.columns} | arrays)
    return project


def scramble_hidden_labels(labelled: set[int]) -> int:
    """Give every training original outside the draws (and its augmented copies) the next class's name."""
    table, arrays = load_features("data/features.npz")
    manifest = pd.read_csv("data/augmented/manifest.csv")
    classes = sorted(table["class"].unique())
    hidden = [i for i in np.flatnonzero(table["subset"] == "train") if i not in labelled]
    hidden_paths = set(table.loc[hidden, "path"])
    copies = table.index[table["path"].isin(manifest.loc[manifest["source"].isin(hidden_paths), "path"])]
    rows = [*hidden, *copies]
    table.loc[rows, "class"] = [classes[(classes.index(c) + 1) % len(classes)] for c in table.loc[rows, "class"]]
    write_npz("data/features.npz", {k: table[k].to_numpy(str) for k in table.columns} | arrays)
    return len(hidden)


def test_learning_curve_end_to_end_and_the_hidden_labels_are_never_read(cached: Path, monkeypatch: pytest.MonkeyPatch):
    """One draw per N, so each fine-tuning method trains twice in all (repeats: the full-grid test below)."""
    set_param(cached, "curve.quick.repeats", 1)
    draws = []
    real_draw = learning_curve.draw
    monkeypatch.setattr(learning_curve, "draw", lambda *a: draws.append(real_draw(*a)) or draws[-1])
    learning_curve.main()
    first = json.loads(Path("metrics/learning_curve.json").read_text())
    assert first["baseline"]["1"]["repeats"] == 1 and set(first["baseline"]) == {"1", "2"}
    assert set(first["fine_tuned"]) == {"1"}, "fine-tuning only at curve.*.finetune_at"
    assert set(first["self_training"]) == {"1", "2"} and set(first["self_training_head"]) == {"2"}
    assert set(first["self_training_fine_tuned"]) == {"2"}, "fine-tuning on pseudo-labels only at pseudo_finetune_at"
    assert first["info"]["grid"] == "quick" and first["info"]["test_images"] == 12
    for method in METHODS:
        frame = pd.read_csv(f"plots/learning_curve/{method}.csv")
        assert list(frame.columns) == ["labelled_per_class", "accuracy", "std", "repeats"], method
    assert Path("plots/learning_curve.png").stat().st_size > 10000
    text = Path("metrics/learning_curve.md").read_text()
    assert text.startswith("| labelled per class | baseline | head | fine_tuned |")
    assert "Against the goals" in text and "| 1 | >= 90% |" in text and "| 2 | >= 99% |" in text, "goals from curve.goals"
    render("metrics/learning_curve.json", "again.md")
    assert Path("again.md").read_text() == text, "the metrics file alone re-renders the table"
    accuracies = {p["mean"] for m in ("baseline", "head", "self_training", "self_training_head") for p in first[m].values()}
    assert len(accuracies) > 1 and max(accuracies) > 0.5, "the methods learn something from the features"

    table, _ = load_features("data/features.npz")
    pool = np.flatnonzero(table["subset"] == "train")
    labelled = {int(pool[i]) for d in draws for i in d}
    assert [len(d) for d in draws] == [3, 6], "N per class x 3 classes"

    assert scramble_hidden_labels(labelled) > 0
    replay = iter(draws)
    monkeypatch.setattr(learning_curve, "draw", lambda *a: next(replay))
    learning_curve.main()
    second = json.loads(Path("metrics/learning_curve.json").read_text())
    assert second == first, "scrambling the unlabelled images' labels changes nothing: no method reads them"


def test_the_full_grid_is_one_param_away_and_an_n_the_data_cannot_supply_is_skipped(cached: Path):
    set_param(cached, "curve.grid", "full")
    set_param(cached, "curve.full.repeats", 2)
    set_param(cached, "curve.full.per_class", [1, 500, "all"])  # a user's dataset: no class has 500 training images
    set_param(cached, "curve.goals", {1: 0.9, 500: 0.99})
    learning_curve.main()
    result = json.loads(Path("metrics/learning_curve.json").read_text())
    assert set(result["baseline"]) == {"1", "all"} and "fine_tuned" not in result
    assert result["baseline"]["1"]["repeats"] == 2 and result["self_training"]["1"]["repeats"] == 2, "every draw counted"
    ones = [result[m]["1"] for m in ("baseline", "head", "self_training")]
    assert all(p["std"] >= 0 and p["min"] <= p["mean"] <= p["max"] for p in ones), "mean and spread over the draws"
    assert result["info"]["skipped"] == {"500": "class 'crazing' has only 13 training images"}
    text = Path("metrics/learning_curve.md").read_text()
    assert "N=500 skipped: class 'crazing' has only 13 training images" in text
    assert "| 500 | >= 99% | skipped: class 'crazing'" in text
    assert "all" not in result["self_training"], "with every label there is nothing unlabelled to self-train on"
