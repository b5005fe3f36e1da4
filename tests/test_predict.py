"""`steel-defect predict` on what a line and a user actually hand it, for a .keras and a .tflite model.

The tiny model reads mean brightness (dark / mid / bright), so a wrongly scaled 16-bit image or a
resize that changes the pixels shows up as different probabilities, not only as a crash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from steel_defect import cli
from steel_defect import predict as predict_module
from tests.conftest import bomb_png_bytes

SIZE = 16
CLASSES = ["bright", "dark", "mid"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One brightness-reading model saved as the pipeline saves it (.keras) and exported as it exports it (.tflite)."""
    import keras

    from steel_defect.atomic import save_model, write_json
    from steel_defect.export import convert

    inputs = keras.Input((None, None, 3))
    mean = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(mean))
    # logits from the mean of the three channels m: bright 16m-8, dark 8-16m, mid 0 (what wins near m = 0.5)
    dense.set_weights([np.array([[16, -16, 0]] * 3, np.float32) / 3, np.array([-8, 8, 0], np.float32)])
    folder = tmp_path_factory.mktemp("models")
    metadata = {"classes": CLASSES, "channels": 3, "input_size": [SIZE, SIZE]}
    (folder / "keras").mkdir()
    save_model(model, folder / "keras" / "model.keras")
    write_json(folder / "keras" / "model.json", metadata)
    (folder / "tflite").mkdir()
    (folder / "tflite" / "model_float32.tflite").write_bytes(convert(model, (SIZE, SIZE), 3, "float32"))
    write_json(folder / "tflite" / "model.json", metadata)
    return {"keras": folder / "keras" / "model.keras", "tflite": folder / "tflite" / "model_float32.tflite"}


def gray(value: int, size: tuple[int, int] = (SIZE, SIZE)) -> Image.Image:
    return Image.new("L", size, value)


def truncated_bmp(path: Path) -> None:
    gray(90, (64, 64)).save(path)
    path.write_bytes(path.read_bytes()[:600])


def palette_with_transparency(path: Path) -> None:
    image = gray(100).convert("P")
    image.info["transparency"] = 0
    image.save(path, transparency=0)


# file -> what it is; expected: the probabilities of an 8-bit image of that gray level ("classified as
# gray N"), or the words that must appear in the reason it was skipped.
MATRIX = {
    "ref_100.png": (lambda p: gray(100).save(p), 100),
    "ref_156.png": (lambda p: gray(156).save(p), 156),
    "sixteen_bit.png": (lambda p: Image.fromarray(np.full((SIZE, SIZE), 40_000, np.uint16)).save(p), 156),  # 40000/257
    "sixteen_bit.tif": (lambda p: Image.fromarray(np.full((SIZE, SIZE), 25_700, np.uint16)).save(p), 100),
    "cmyk.jpg": (lambda p: Image.new("CMYK", (40, 30), (0, 0, 0, 155)).save(p, quality=95), "classified"),
    "rgba.png": (lambda p: Image.new("RGBA", (SIZE, SIZE), (100, 100, 100, 80)).save(p), 100),
    "palette.png": (palette_with_transparency, 100),
    "photo_4000x3000.jpg": (lambda p: gray(100, (4000, 3000)).save(p, quality=95), 100),  # resized as training resizes
    "bomb.png": (lambda p: p.write_bytes(bomb_png_bytes()), "decompression bomb"),
    "truncated.bmp": (truncated_bmp, "not a readable image"),
    "zero_bytes.png": (lambda p: p.write_bytes(b""), "not a readable image"),
    "text_named.png": (lambda p: p.write_text("not an image at all\n"), "not a readable image"),
    "unsupported_mode.png": (lambda p: p.write_bytes(bomb_png_bytes(8, 8, depth=4, colour_type=2)), "not a readable image"),
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name, (make, _) in MATRIX.items():
        make(folder / name)
    return folder


@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_every_case_of_the_matrix_is_classified_or_named_and_skipped(kind, models, photos, tmp_path, capsys):
    out = tmp_path / "new" / "folder" / "predictions.csv"  # a folder that does not exist yet is created
    code = cli.main(["predict", str(photos), "--model", str(models[kind]), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2, "some files failed, and the exit code says so"
    assert "Traceback" not in captured.err + captured.out
    table = pd.read_csv(out).set_index("path")
    skipped = dict(line.removeprefix("skipped: ").split(": ", 1) for line in captured.err.splitlines())
    probs = table[[f"p_{c}" for c in CLASSES]]
    for name, (_, expected) in MATRIX.items():
        path = str(photos / name)
        if isinstance(expected, int):
            assert path in table.index, f"{name}: {skipped.get(path)}"
            np.testing.assert_allclose(probs.loc[path], probs.loc[str(photos / f"ref_{expected}.png")], atol=2e-3, err_msg=name)
        elif expected == "classified":
            assert path in table.index, f"{name}: {skipped.get(path)}"
        else:
            assert path not in table.index and expected in skipped[path], name
    assert len(table) + len(skipped) == len(MATRIX)
    # 16-bit scaled (40000 -> 156), not clipped to 255: the two gray levels the model tells apart stay apart
    assert table.loc[str(photos / "ref_156.png"), "predicted"] != table.loc[str(photos / "ref_100.png"), "predicted"]


@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_the_csv_and_the_summary_name_the_model_that_answered(kind, models, photos, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    assert cli.main(["predict", str(photos / "ref_100.png"), "--model", str(models[kind]), "--out", str(out), "--quiet"]) == 0
    digest = hashlib.sha256(models[kind].read_bytes()).hexdigest()
    table = pd.read_csv(out)
    assert list(table.columns) == ["path", "predicted", "confidence", *(f"p_{c}" for c in CLASSES), "model", "model_sha256"]
    assert table["model"].tolist() == [str(models[kind])] and table["model_sha256"].tolist() == [digest]
    printed = capsys.readouterr().out
    assert f"sha256 {digest[:12]}" in printed and ", ".join(CLASSES) in printed and str(models[kind]) in printed


def test_the_output_path_is_refused_before_any_image_is_read(models, photos, tmp_path, capsys, monkeypatch):
    def never(*_args, **_kwargs):
        raise AssertionError("an image was read before the output path was checked")

    monkeypatch.setattr(predict_module, "read_image", never)
    (tmp_path / "a_file").write_text("x")
    for out in (tmp_path / "a_file" / "predictions.csv", tmp_path):  # a folder under a file; a folder itself
        assert cli.main(["predict", str(photos), "--model", str(models["keras"]), "--out", str(out), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {out}") and len(err.strip().splitlines()) == 1, err


def test_refusals_are_one_line_and_write_nothing(models, photos, tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    empty = tmp_path / "empty"
    empty.mkdir()
    not_keras = tmp_path / "not_keras" / "model.keras"
    not_tflite = tmp_path / "not_tflite" / "model.tflite"
    for fake in (not_keras, not_tflite):
        fake.parent.mkdir()
        fake.write_bytes(b"this is no model")
        (fake.parent / "model.json").write_text(json.dumps({"classes": CLASSES, "channels": 3, "input_size": [SIZE, SIZE]}))
    cases = {
        "a missing path": ([str(tmp_path / "nowhere")], models["keras"], "no image could be classified"),
        "an empty folder": ([str(empty)], models["keras"], "no image could be classified"),
        "only bad files": ([str(photos / "bomb.png"), str(photos / "truncated.bmp")], models["tflite"], "no image could be"),
        "a missing model": ([str(photos)], tmp_path / "none.keras", "model file not found"),
        "a file that is no Keras model": ([str(photos)], not_keras, "not a Keras model"),
        "a file that is no LiteRT model": ([str(photos)], not_tflite, "not a LiteRT model"),
    }
    for case, (paths, model, words) in cases.items():
        code = cli.main(["predict", *paths, "--model", str(model), "--out", str(out), "--quiet"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert code == 1 and len(err) == 1 and words in err[0], (case, err)
        assert not out.exists(), case
    assert cli.main(["predict", str(photos), "--min-confidence", "2", "--out", str(out), "--quiet"]) == 1
    assert "--min-confidence 2.0" in capsys.readouterr().err and not out.exists()
