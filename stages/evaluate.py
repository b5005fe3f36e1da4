"""Stage evaluate: score the fine-tuned model on the untouched test subset, beside the head-only model and a baseline."""

import json
from pathlib import Path

import keras
import numpy as np
from dvclive import Live

from steel_defect.atomic import write_json
from steel_defect.errors import run_stage
from steel_defect.features import load_features
from steel_defect.images import load_stack
from steel_defect.metrics import baseline_accuracy, classification_metrics, per_class_report, save_figures
from steel_defect.params import integer, load_params
from steel_defect.training import rows_of


def main() -> None:
    params = load_params()
    table, arrays = load_features("data/features.npz")
    rows = rows_of(table)
    classes, y, test = rows.classes, rows.y, rows.test
    originals = table["subset"].isin(["train", "val"]).to_numpy()  # the baseline sees no augmented copies
    model = keras.models.load_model("models/model.keras")
    images = load_stack(table.loc[test, "path"].tolist(), root="data/raw").astype("float32")
    probs = model.predict(images, batch_size=integer(params, "train.batch_size", minimum=1), verbose=0)
    head_probs = keras.models.load_model("models/head.keras").predict(arrays["pooled"][test], verbose=0)
    info = json.loads(Path("models/backbone/backbone.json").read_text())
    results = {
        **classification_metrics(y[test], probs),
        "errors": int((probs.argmax(1) != y[test]).sum()),
        "test_images": int(test.sum()),
        "head_accuracy": classification_metrics(y[test], head_probs)["accuracy"],
        "baseline_accuracy": baseline_accuracy(arrays["pooled"][originals], y[originals], arrays["pooled"][test], y[test]),
        "params": int(model.count_params()),
        "backbone": info["backbone"],
        "weights": info["weights"],
    }
    with Live("metrics/evaluate", dvcyaml=False, save_dvc_exp=False) as live:
        live.summary.update(results)  # -> metrics/evaluate/metrics.json, the file dvc.yaml lists under metrics
        names = [classes[i] for i in y[test]]
        live.log_sklearn_plot("confusion_matrix", names, [classes[i] for i in probs.argmax(1)], name="confusion_matrix.json")
        onehot = np.eye(len(classes))[y[test]]
        live.log_sklearn_plot("roc", onehot.ravel(), probs.ravel(), name="roc_micro.json")
    write_json("metrics/evaluate/per_class.json", per_class_report(y[test], probs.argmax(1), classes))
    title = f"{info['backbone']} ({info['weights']}): accuracy {results['accuracy']:.4f}, {results['errors']} errors"
    save_figures("plots", y[test], probs, classes, title)
    print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float)))
    print(f"evaluate: {results['errors']} errors in {results['test_images']} test images; {info['backbone']} ({info['weights']})")


if __name__ == "__main__":
    run_stage(main)
