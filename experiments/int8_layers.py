"""Where full-integer int8 loses accuracy: per-layer quantisation error, and variants that keep layers float.

    python -m experiments.int8_layers      # after `dvc repro export`; about 5 min on 2 cores
    python -m experiments.int8_layers --run prob5-s4 --perturb 'salt_pepper 0.01'   # a run's model, perturbed images

Writes docs/experiments/int8_layers.json and docs/experiments/int8_layers.md (cited by docs/experiments.md); with
--run or --perturb, docs/experiments/int8_layers-RUN-PERTURBATION.* (e.g. int8_layers-prob5-s4-salt_pepper0.01.md).
For the deployed model (the workspace's, or a run's checked out beside it as tools.int8_robust
does), calibrated as the export stage calibrates it (export.representative_images training images):
- the tensors with the largest int8 error, measured on validation images (LiteRT's
  QuantizationDebugger), never on test images;
- full int8, int8 with the 1, 2 and 3 worst tensors kept float, 16x8 (int8 weights, 16-bit
  activations) and dynamic-range int8 (int8 weights, float activations): validation and test
  errors, file size and batch-1 latency.
With --perturb, validation and test images carry the robustness stage's perturbation (seeded by
robustness.seed as that stage seeds it; a chain as tools.robust_errors takes it), so the
table says which precision loses them.
The variants are chosen by their validation errors; the test errors are reported beside them.
Time it with the machine otherwise idle, like the benchmark stage.
"""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
from pathlib import Path

import keras
import pandas as pd

from experiments.int8_robust import checkout
from experiments.lib.robust_errors import parse_chain, perturb_chain
from stages.export import CALIBRATION, calibration_images
from steel_defect.atomic import atomic_file, write_json
from steel_defect.benchmark import latency_ms
from steel_defect.dataset import read_spec
from steel_defect.deploy import load_runner, read_metadata
from steel_defect.errors import run_stage
from steel_defect.export import DYNAMIC, INT16X8, convert, int8_keeping_float, int8_layer_errors
from steel_defect.params import choice, integer, load_params
from steel_defect.tables import markdown_table

SOURCE = Path("models/deployed/model.keras")
OUT, TABLE = Path("docs/experiments/int8_layers.json"), Path("docs/experiments/int8_layers.md")
KEPT_FLOAT = (1, 2, 3)  # how many of the worst tensors to keep float
RUNS = 200  # batch-1 calls timed per variant


def analyse(chain: str | None) -> dict:
    """The per-tensor errors and the variants' scores for the deployed model in the current folder."""
    params = load_params()
    n_representative = integer(params, "export.representative_images", minimum=1)
    threads = integer(params, "export.threads", minimum=1)
    metadata = read_metadata(SOURCE)
    size, channels = (int(metadata["input_size"][0]), int(metadata["input_size"][1])), int(metadata["channels"])
    spec = read_spec()
    split = pd.read_csv("data/split.csv", keep_default_na=False)
    representative = calibration_images(spec, split, n_representative, choice(params, "export.calibration", list(CALIBRATION)))
    subsets = {name: spec.load_subset(name) for name in ("val", "test")}
    if chain:
        seed = integer(params, "robustness.seed", minimum=0)
        subsets = {name: (perturb_chain(x, chain, seed), y) for name, (x, y) in subsets.items()}
    model = keras.models.load_model(SOURCE)

    print(f"int8_layers: per-layer error on {len(subsets['val'][0])} validation images ...", flush=True)
    layers = int8_layer_errors(model, size, channels, representative.astype("float32"), subsets["val"][0].astype("float32"))
    variants = {
        "float32": convert(model, size, channels, "float32"),
        "int8": convert(model, size, channels, "int8", representative),
    }
    for k in KEPT_FLOAT:
        kept = layers["tensor_name"].head(k).tolist()
        variants[f"int8, {k} worst kept float"] = int8_keeping_float(model, size, channels, representative, kept)
    variants[f"{INT16X8} (16-bit activations)"] = convert(model, size, channels, INT16X8, representative)
    variants[f"{DYNAMIC} int8"] = convert(model, size, channels, DYNAMIC)

    results = []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model.json").write_text((SOURCE.parent / "model.json").read_text())  # the runner reads it
        for name, blob in variants.items():
            path = Path(folder) / f"{len(results)}.tflite"
            path.write_bytes(blob)
            runner = load_runner(path, threads)
            row = {"model": name, "file_mb": round(len(blob) / 1e6, 3)}
            try:
                for subset, (images, y) in subsets.items():
                    probs = runner.predict(images)
                    row[f"{subset}_errors"] = int((probs.argmax(1) != y).sum())
            except RuntimeError as err:  # LiteRT refuses some quantised graphs at run time (16x8 on a tiny random model)
                print(f"int8_layers: {name}: LiteRT cannot run it: {err}", flush=True)
                results.append({**row, "failed": str(err).splitlines()[0]})
                continue
            row.update(latency_ms(runner.predict, subsets["test"][0], RUNS, 20))
            print(
                f"int8_layers: {name}: {row['val_errors']} validation / {row['test_errors']} test errors, "
                f"{row['file_mb']:.2f} MB, {row['ms_batch1_median']:.2f} ms",
                flush=True,
            )
            results.append(row)
    keras_errors = {}
    for subset, (images, y) in subsets.items():
        keras_errors[subset] = int((model.predict(images, batch_size=32, verbose=0).argmax(1) != y).sum())
    return {
        "representative_images": len(representative),
        "threads": threads,
        "counts": {k: len(v[1]) for k, v in subsets.items()},
        "keras_errors": keras_errors,
        "worst_tensors": layers.head(10).to_dict(orient="records"),
        "variants": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", help="a DVC experiment or git revision whose deployed model to analyse (default: the workspace's)"
    )
    parser.add_argument("--perturb", help="'NAME VALUE' (or a chain, 'A 1 + B 2'): validation and test images under it")
    args = parser.parse_args(argv)
    if args.perturb:
        parse_chain(args.perturb)  # a mistyped chain stops here, before any checkout
    if args.run is None:
        result, label = analyse(args.perturb), None
    else:
        here = Path.cwd()
        with checkout(args.run) as (work, commit, label):
            os.chdir(work)
            try:
                result = {**analyse(args.perturb), "commit": commit[:7]}
            finally:
                os.chdir(here)
    suffix = "".join(f"-{''.join(part.split())}" for part in (label, args.perturb) if part)
    out, table = (OUT.with_name(f"{p.stem}{suffix}{p.suffix}") for p in (OUT, TABLE))
    command = "python -m experiments.int8_layers" + "".join(f" --{k} {shlex.quote(v)}" for k, v in vars(args).items() if v)
    write_json(out, {"run": label, "perturbation": args.perturb, **result})
    with atomic_file(table) as tmp:
        tmp.write_text(markdown(result, args.perturb, command))
    print(table.read_text())


def markdown(result: dict, perturbed: str | None = None, command: str = "python -m experiments.int8_layers") -> str:
    """The variants' errors, size and latency (the Keras model's errors first), then the five worst tensors."""
    counts, on = result["counts"], f" under {perturbed}" if perturbed else ""
    val, test = f"validation errors (of {counts['val']}){on}", f"test errors (of {counts['test']}){on}"
    keras_errors = result["keras_errors"]
    rows = [{"model": "keras (deployed; not timed here)", val: keras_errors["val"], test: keras_errors["test"]}]
    rows += [
        {
            "model": r["model"],
            val: r.get("val_errors", "LiteRT cannot run it"),
            test: r.get("test_errors", ""),
            "file (MB)": f"{r['file_mb']:.2f}",
            "ms per image, batch 1": f"{r['ms_batch1_median']:.2f}" if "failed" not in r else "",
        }
        for r in result["variants"]
    ]
    variants = pd.DataFrame(rows).fillna("")
    layers = pd.DataFrame(
        [
            {
                "op": w["op_name"],
                "tensor (shortened)": w["tensor_name"].split(";")[0][-60:],
                "RMSE (int8 steps)": f"{w['rmse_steps']:.2f}",
            }
            for w in result["worst_tensors"][:5]
        ]
    )
    return (
        markdown_table(variants)
        + f"\nThe five tensors int8 quantises worst (error of the op itself, on validation images{on}):\n\n"
        + markdown_table(layers)
        + f"\nGenerated by `{command}`.\n"
    )


if __name__ == "__main__":
    run_stage(main)
