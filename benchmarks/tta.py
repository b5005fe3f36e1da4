"""Does test-time augmentation make the deployed model more robust? metrics/tta.json and .md

    python -m benchmarks.tta                    # about 7 min on 2 idle cores with the float32 LiteRT export
    python -m benchmarks.tta --model models/deployed/model.keras     # the Keras model itself (about 4x slower)

Perturbs the test images exactly as the robustness stage does (robustness.seed, every moderate
setting in robustness.perturbations), runs the model on the eight flipped and rotated views of each
perturbed image once, and scores each scheme (steel_defect/tta.py) from the averaged probabilities.
Never touches the pipeline's outputs: only metrics/tta.*.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from stages.robustness import perturbation_params
from steel_defect.atomic import atomic_file, write_json
from steel_defect.dataset import read_spec
from steel_defect.deploy import load_runner
from steel_defect.errors import run_stage
from steel_defect.params import integer, load_params
from steel_defect.perturb import perturb
from steel_defect.robustness import is_moderate, settings
from steel_defect.tta import VIEWS, markdown, scheme_accuracy, summarise

OUT, TABLE = "metrics/tta.json", "metrics/tta.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/export/model_float32.tflite")
    args = parser.parse_args()
    params = load_params()
    seed, threads = integer(params, "robustness.seed", minimum=0), integer(params, "export.threads", minimum=1)
    perturbations, moderate = perturbation_params(params)
    images, y = read_spec().load_subset("test")
    predict = load_runner(args.model, threads, integer(params, "robustness.batch_size", minimum=1)).predict

    def accuracy(x: np.ndarray) -> dict[str, float]:
        return scheme_accuracy({v: predict(np.ascontiguousarray(view(x))) for v, view in VIEWS.items()}, y)

    clean = accuracy(images)
    rows = []
    for name, value in [(n, v) for n, v in settings(perturbations) if is_moderate(n, v, moderate)]:
        scores = accuracy(perturb(images, name, value, seed))
        rows.append({"perturbation": name, "value": value, **scores})
        print(
            f"tta: {name} {value:g}: " + ", ".join(f"{s} {100 * a:.2f}" for s, a in scores.items()), file=sys.stderr, flush=True
        )
    summary = summarise(clean, rows, moderate)
    write_json(OUT, {"model": args.model, "test_images": len(y), "seed": seed, "schemes": summary})
    command = "python -m benchmarks.tta" + ("" if args.model == parser.get_default("model") else f" --model {args.model}")
    with atomic_file(TABLE) as tmp:
        tmp.write_text(markdown(summary, len(y), args.model, command))
    print(f"-> {OUT}, {TABLE}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
