"""Export, metadata and the predict command on a tiny model trained on the synthetic 3-class dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import export
from steel_defect import cli
from steel_defect.confidence import coverage_table
from steel_defect.deploy import Runner, load_runner, quantize
from steel_defect.errors import UserError
from steel_defect.metrics import confusions, most_confused
from steel_defect.predict import UNCERTAIN, collect
from tests.conftest import CLASSES, set_param

EXPORTED = ["model_float32.tflite", "model_float16.tflite", "model_dynamic_range.tflite", "model_int8.tflite"]


def test_runner_feeds_the_model_batch_size_images_at_a_time():
    calls = []

    def model(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.stack([x.mean(axis=(1, 2, 3)), -x.mean(axis=(1, 2, 3))], axis=1)

    runner = Runner(Path("m.keras"), {"classes": ["a", "b"]}, model, batch_size=4)
    x = np.arange(10, dtype=np.float32)[:, None, None, None] * np.ones((1, 3, 3, 1), np.float32)
    np.testing.assert_array_equal(runner.predict(x)[:, 0], np.arange(10))
    assert calls == [4, 4, 2]
    assert runner.predict(x[:0]).shape == (0, 2)


def test_int8_calibration_draws_training_images_or_their_augmented_copies(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    split = pd.DataFrame(
        {"path": [f"{c}/{i}.png" for c in ("a", "b") for i in range(6)], "subset": ["train", "train", "val", "test"] * 3}
    )
    train = split.loc[split["subset"] == "train", "path"].tolist()
    Path("data/augmented").mkdir(parents=True)
    pd.DataFrame({"path": [f"{p}.aug{k}.png" for p in split["path"] for k in (0, 1)], "source": split["path"].repeat(2)}).to_csv(
        "data/augmented/manifest.csv", index=False
    )
    originals, root = export.calibration_paths(split, 4, "originals")
    assert root == Path("data/raw") and len(originals) == 4 and set(originals) <= set(train)
    assert {p[0] for p in originals} == {"a", "b"}, "evenly spaced through the class-sorted list: every class calibrates"
    copies, root = export.calibration_paths(split, 100, "augmented")
    assert root == Path("data/augmented")
    expected = sorted(f"{p}.aug{k}.png" for p in train for k in (0, 1))
    assert sorted(copies) == expected, "copies of training images only, never of validation or test images"
    pd.DataFrame({"path": [], "source": []}).to_csv("data/augmented/manifest.csv", index=False)
    with pytest.raises(UserError, match="no augmented copies of training images"):
        export.calibration_paths(split, 4, "augmented")


def test_export_and_predict_round_trip(trained_project: Path, tmp_path_factory: pytest.TempPathFactory, capsys):
    scores = json.loads(Path("metrics/export.json").read_text())
    assert set(scores) >= {"keras", "float32", "float16", "dynamic_range", "int8"} and scores["test_images"] == 12
    assert scores["float32"]["max_probability_difference"] < 1e-4, "float32 LiteRT computes what Keras computes"
    assert scores["float32"]["agrees_with_keras"] == 1.0
    assert scores["int8"]["file_bytes"] < scores["float32"]["file_bytes"]
    metadata = json.loads(Path("models/export/model.json").read_text())
    assert metadata["calibration"] == "augmented", "the metadata says how int8 was calibrated"
    assert sorted(p.name for p in Path("models/export").glob("*.tflite")) == sorted(EXPORTED)

    # Somewhere else entirely: no params.yaml, no data folder. Classes and input come from the metadata alone.
    elsewhere = tmp_path_factory.mktemp("line")
    shutil.copytree("models", elsewhere / "models")
    images = elsewhere / "photos"
    shutil.copytree(trained_project / "source" / "crazing", images / "crazing")
    (images / "nested").mkdir()
    shutil.copy(trained_project / "source" / "scratches" / "Sc_3.bmp", images / "nested" / "big.bmp")
    (images / "broken.png").write_bytes(b"not an image")
    n_good = sum(1 for p in images.rglob("*") if p.is_file()) - 1

    for model in ["models/deployed/model.keras", *(f"models/export/{name}" for name in EXPORTED)]:
        out = elsewhere / "predictions.csv"
        code = cli.main(["predict", str(images), "--model", str(elsewhere / model), "--out", str(out), "--quiet"])
        captured = capsys.readouterr()
        assert code == 2, "some files failed, and the exit code says so"
        assert "broken.png" in captured.err and "crazing" in captured.out
        table = pd.read_csv(out)
        probabilities = [f"p_{c}" for c in sorted(CLASSES)]
        assert list(table.columns) == ["path", "predicted", "confidence", *probabilities, "model", "model_sha256"], model
        assert len(table) == n_good, model
        assert np.allclose(table[[f"p_{c}" for c in sorted(CLASSES)]].sum(axis=1), 1.0, atol=0.02), model
        assert set(table["predicted"]) <= set(CLASSES), "names from the metadata, nothing else"

    keras_model = str(elsewhere / "models/deployed/model.keras")
    code = cli.main(
        ["predict", str(images / "crazing"), "--model", keras_model, "--out", str(out), "--min-confidence", "1.0", "--quiet"]
    )
    table = pd.read_csv(out)
    assert code == 0 and (table["predicted"] == UNCERTAIN).sum() == (table["confidence"] < 1.0).sum() > 0


def test_predict_reports_missing_paths_and_bad_options(tmp_path: Path, capsys):
    files, missing = collect([str(tmp_path / "nothing-here"), str(tmp_path / "*.png")])
    assert files == [] and len(missing) == 2
    assert cli.main(["predict", str(tmp_path), "--model", str(tmp_path / "none.keras"), "--quiet"]) == 1
    assert "model file not found" in capsys.readouterr().err
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(UserError, match="unknown model format"):
        load_runner(tmp_path / "m.onnx")
    assert cli.main(["predict", str(tmp_path), "--min-confidence", "2", "--quiet"]) == 1
    assert "--min-confidence 2.0" in capsys.readouterr().err


def test_the_int8_limit_and_the_export_kinds(project: Path):
    export.check_int8({"float32": {"accuracy": 1.0}, "int8": {"accuracy": 1 - 1 / 360}}, 0.5)  # one image: 0.28 points
    with pytest.raises(UserError, match=r"int8 model scores 0.83 points below float32 .* export.max_int8_drop = 0.5"):
        export.check_int8({"float32": {"accuracy": 1.0}, "int8": {"accuracy": 1 - 3 / 360}}, 0.5)
    set_param(project, "export", {"kinds": ["float16"], "representative_images": 5, "max_int8_drop": 0.5, "threads": 1})
    with pytest.raises(UserError, match="'export.kinds' must include float32"):
        export.main()
    set_param(project, "export.kinds", ["float32", "int4"])
    with pytest.raises(UserError, match="'export.kinds' is .*int4"):
        export.main()


def test_integer_inputs_are_quantised_with_their_scale():
    detail = {"dtype": np.uint8, "quantization": (2.0, 10)}
    assert quantize(np.array([0.0, 10.0, 1000.0]), detail).tolist() == [10, 15, 255]


def test_min_confidence_coverage_on_known_numbers():
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.3, 0.7], [0.52, 0.48]])
    y = np.array([0, 1, 1, 0])  # the second is wrong with confidence 0.6
    rows = coverage_table(y, probs, [0.5, 0.65])
    assert rows[0] == {"min_confidence": 0.5, "coverage": 1.0, "accuracy_on_covered": 0.75, "errors_left": 1, "uncertain": 0}
    assert rows[1] == {"min_confidence": 0.65, "coverage": 0.5, "accuracy_on_covered": 1.0, "errors_left": 0, "uncertain": 2}


def test_the_confusion_matrix_names_its_most_confused_pair():
    """The confusion matrix's title names the pair most often confused, and the count of each pair."""
    y, predicted = np.array([0, 0, 1, 1, 2]), np.array([1, 1, 0, 1, 2])
    assert confusions(y, predicted, ["crazing", "inclusion", "scale"]) == [
        ("crazing", "inclusion", 2),
        ("inclusion", "crazing", 1),
    ]
    assert (
        most_confused(y, predicted, ["crazing", "inclusion", "scale"])
        == "most confused: crazing read as inclusion (2 of 3 errors)"
    )
    assert most_confused(y, y, ["crazing", "inclusion", "scale"]) == "no test image is confused"
