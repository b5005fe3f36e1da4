"""Stage export: the deployed model as LiteRT models (export.kinds), each scored on the test subset.

The .tflite files and their metadata go to models/export/ (predict reads any of them); the
int8 model is calibrated on images from the training subset only. Each model is scored with
evaluate's metrics and compared with the Keras model it came from; an int8 model more than
export.max_int8_drop points below float32 fails the stage (a public NEU-CLS project's int8
MobileNet fell from 94% to 58%), so a broken quantisation never ships quietly.
"""

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from steel_defect.atomic import atomic_dir, write_json
from steel_defect.dataset import DatasetSpec, read_spec
from steel_defect.deploy import load_runner, read_metadata
from steel_defect.errors import UserError, run_stage
from steel_defect.export import KINDS, convert
from steel_defect.metrics import classification_metrics
from steel_defect.params import choice, choices_list, integer, load_params, number

SOURCE, OUT, METRICS = Path("models/deployed/model.keras"), Path("models/export"), Path("metrics/export.json")


CALIBRATION = ("originals", "augmented")
AUGMENTED = Path("data/augmented")


def evenly(paths: list[str], n: int) -> list[str]:
    """n of `paths` evenly spaced (all of them if there are fewer): a class-sorted list gives every class its share."""
    picks = np.unique(np.linspace(0, len(paths) - 1, min(n, len(paths))).round().astype(int))
    return [paths[i] for i in picks]


def calibration_paths(split: pd.DataFrame, n: int, source: str) -> tuple[list[str], Path]:
    """n images (paths under the returned root) that calibrate int8, from `source` (export.calibration).

    `originals`: training images. `augmented`: the augmented copies of training images, which
    carry the photometric changes (noise, specks, blur), so int8's activation ranges are measured
    on the kind of input the robustness stage feeds it, not on clean images only.
    """
    train = split.loc[split["subset"] == "train", "path"].tolist()
    if source == "originals":
        return evenly(train, n), Path("data/raw")
    manifest = pd.read_csv(AUGMENTED / "manifest.csv", keep_default_na=False)
    copies = manifest.loc[manifest["source"].isin(set(train)), "path"].tolist()
    if not copies:
        raise UserError(
            f"{AUGMENTED / 'manifest.csv'}: no augmented copies of training images; "
            "set augment.copies above 0 or export.calibration: originals"
        )
    return evenly(copies, n), AUGMENTED


def calibration_images(spec: DatasetSpec, split: pd.DataFrame, n: int, source: str) -> np.ndarray:
    """The images of `calibration_paths`, float32 as the model takes them."""
    paths, root = calibration_paths(split, n, source)
    return spec.load(paths, root).astype("float32")


def check_int8(results: dict, max_drop: float) -> None:
    """Fail (before anything is written) when int8 loses more than `max_drop` points of test accuracy against float32."""
    if "int8" not in results:
        return
    drop = 100 * (results["float32"]["accuracy"] - results["int8"]["accuracy"])
    if drop > max_drop:
        raise UserError(
            f"export: the int8 model scores {drop:.2f} points below float32 on the test subset (limit export.max_int8_drop "
            f"= {max_drop}); try another export.representative_images or ship float16 (leave int8 out of export.kinds)"
        )


def main() -> None:
    params = load_params()
    chosen = choices_list(params, "export.kinds", list(KINDS))
    kinds = [k for k in KINDS if k in chosen]
    if "float32" not in kinds:
        raise UserError("params.yaml: 'export.kinds' must include float32 (the reference the others are scored against)")
    n_representative = integer(params, "export.representative_images", minimum=1)
    calibration = choice(params, "export.calibration", list(CALIBRATION))
    max_drop = number(params, "export.max_int8_drop", 0, 100)
    threads = integer(params, "export.threads", minimum=1)
    metadata = read_metadata(SOURCE)
    spec = read_spec()
    split = pd.read_csv("data/split.csv", keep_default_na=False)
    representative = calibration_images(spec, split, n_representative, calibration)
    images, y = spec.load_subset("test")
    model = keras.models.load_model(SOURCE)
    reference = model.predict(images, batch_size=32, verbose=0)
    results = {"keras": {**classification_metrics(y, reference), "errors": int((reference.argmax(1) != y).sum())}}
    size = (int(metadata["input_size"][0]), int(metadata["input_size"][1]))

    with atomic_dir(OUT) as tmp:
        formats = {}
        for kind in kinds:
            path = tmp / f"model_{kind}.tflite"
            print(f"export: converting to {kind} ...", flush=True)
            path.write_bytes(convert(model, size, int(metadata["channels"]), kind, representative))
            formats[kind] = path.name
        write_json(
            tmp / "model.json",
            {
                **metadata,
                "exported_from": str(SOURCE),
                "formats": formats,
                "representative_images": len(representative),
                "calibration": calibration,
            },
        )
        for kind in kinds:
            runner = load_runner(tmp / formats[kind], threads)
            probs = runner.predict(images)
            results[kind] = {
                **classification_metrics(y, probs),
                "errors": int((probs.argmax(1) != y).sum()),
                "agrees_with_keras": float((probs.argmax(1) == reference.argmax(1)).mean()),
                "max_probability_difference": float(np.abs(probs - reference).max()),
                "file_bytes": (tmp / formats[kind]).stat().st_size,
            }
            print(f"export: {kind}: accuracy {results[kind]['accuracy']:.4f}, {results[kind]['file_bytes'] / 1e6:.2f} MB")
        check_int8(results, max_drop)
    write_json(METRICS, {"test_images": len(y), "threads": threads, **results})
    print(f"export: {', '.join(formats.values())} -> {OUT}/, scores -> {METRICS}")


if __name__ == "__main__":
    run_stage(main)
