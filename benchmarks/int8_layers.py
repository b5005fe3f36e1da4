"""Where full-integer int8 loses accuracy: per-layer quantisation error, and variants that keep layers float.

    python -m benchmarks.int8_layers      # after `dvc repro export`; about 5 min on 2 cores

Writes metrics/int8_layers.json and metrics/int8_layers.md (shown in the README, "int8"). For the
deployed model, calibrated as the export stage calibrates it (export.representative_images
training images):
- the tensors with the largest int8 error, measured on validation images (LiteRT's
  QuantizationDebugger), never on test images;
- full int8, int8 with the 1, 2 and 3 worst tensors kept float, and dynamic-range int8 (int8
  weights, float activations): validation and test errors, file size and batch-1 latency.
The variants are chosen by their validation errors; the test errors are reported beside them.
Time it with the machine otherwise idle, like the benchmark stage.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import pandas as pd

from stages.export import CALIBRATION, calibration_images
from steel_defect.atomic import atomic_file, write_json
from steel_defect.benchmark import latency_ms
from steel_defect.dataset import read_spec
from steel_defect.deploy import load_runner, read_metadata
from steel_defect.errors import run_stage
from steel_defect.export import DYNAMIC, convert, int8_keeping_float, int8_layer_errors
from steel_defect.params import choice, integer, load_params
from steel_defect.tables import markdown_table

SOURCE = Path("models/deployed/model.keras")
OUT, TABLE = Path("metrics/int8_layers.json"), Path("metrics/int8_layers.md")
KEPT_FLOAT = (1, 2, 3)  # how many of the worst tensors to keep float
RUNS = 200  # batch-1 calls timed per variant


def main() -> None:
    params = load_params()
    n_representative = integer(params, "export.representative_images", minimum=1)
    threads = integer(params, "export.threads", minimum=1)
    metadata = read_metadata(SOURCE)
    size, channels = (int(metadata["input_size"][0]), int(metadata["input_size"][1])), int(metadata["channels"])
    spec = read_spec()
    split = pd.read_csv("data/split.csv", keep_default_na=False)
    representative = calibration_images(spec, split, n_representative, choice(params, "export.calibration", list(CALIBRATION)))
    subsets = {name: spec.load_subset(name) for name in ("val", "test")}
    model = keras.models.load_model(SOURCE)

    print(f"int8_layers: per-layer error on {len(subsets['val'][0])} validation images ...", flush=True)
    layers = int8_layer_errors(model, size, channels, representative.astype("float32"), subsets["val"][0])
    variants = {
        "float32": convert(model, size, channels, "float32"),
        "int8": convert(model, size, channels, "int8", representative),
    }
    for k in KEPT_FLOAT:
        kept = layers["tensor_name"].head(k).tolist()
        variants[f"int8, {k} worst kept float"] = int8_keeping_float(model, size, channels, representative, kept)
    variants[f"{DYNAMIC} int8"] = convert(model, size, channels, DYNAMIC)

    results = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model.json").write_text((SOURCE.parent / "model.json").read_text())  # the runner reads it
        for name, blob in variants.items():
            path = Path(folder) / f"{len(results)}.tflite"
            path.write_bytes(blob)
            runner = load_runner(path, threads)
            row = {"model": name, "file_mb": round(len(blob) / 1e6, 3)}
            for subset, (images, y) in subsets.items():
                probs = runner.predict(images)
                row[f"{subset}_errors"] = int((probs.argmax(1) != y).sum())
            row.update(latency_ms(runner.predict, subsets["test"][0], RUNS, 20))
            print(
                f"int8_layers: {name}: {row['val_errors']} validation / {row['test_errors']} test errors, "
                f"{row['file_mb']:.2f} MB, {row['ms_batch1_median']:.2f} ms",
                flush=True,
            )
            results.append(row)
    worst = layers.head(10).to_dict(orient="records")
    write_json(
        OUT, {"representative_images": len(representative), "threads": threads, "worst_tensors": worst, "variants": results}
    )
    with atomic_file(TABLE) as tmp:
        tmp.write_text(markdown(results, worst, {k: len(v[1]) for k, v in subsets.items()}))
    print(TABLE.read_text())


def markdown(results: list[dict], worst: list[dict], counts: dict[str, int]) -> str:
    variants = pd.DataFrame(
        [
            {
                "model": r["model"],
                f"validation errors (of {counts['val']})": r["val_errors"],
                f"test errors (of {counts['test']})": r["test_errors"],
                "file (MB)": f"{r['file_mb']:.2f}",
                "ms per image, batch 1": f"{r['ms_batch1_median']:.2f}",
            }
            for r in results
        ]
    )
    layers = pd.DataFrame(
        [
            {
                "op": w["op_name"],
                "tensor (shortened)": w["tensor_name"].split(";")[0][-60:],
                "RMSE (int8 steps)": f"{w['rmse_steps']:.2f}",
            }
            for w in worst[:5]
        ]
    )
    return (
        markdown_table(variants)
        + "\nThe five tensors int8 quantises worst (error of the op itself, on validation images):\n\n"
        + markdown_table(layers)
        + "\nGenerated by `python -m benchmarks.int8_layers`.\n"
    )


if __name__ == "__main__":
    run_stage(main)
