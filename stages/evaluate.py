"""Stage evaluate: score the deployed model on the untouched test images, with every other candidate beside it.

Nothing here feeds back into training or selection; the candidates' test scores are reported so a
reader can see whether the validation-based choice held up.
"""

import json
from pathlib import Path

import keras
import numpy as np
from dvclive import Live

from steel_defect.atomic import write_json
from steel_defect.confidence import coverage_table
from steel_defect.dataset import read_spec
from steel_defect.errors import UserError, run_stage
from steel_defect.metrics import classification_metrics, per_class_report, save_figures
from steel_defect.params import choices_list, get, integer, load_params
from steel_defect.selection import CANDIDATES, load_candidates, score


def main() -> None:
    params = load_params()
    spec = read_spec()
    images, y = spec.load_subset("test")
    batch_size = integer(params, "features.batch_size", minimum=1)
    model = keras.models.load_model("models/deployed/model.keras")
    deployed = json.loads(Path("models/deployed/model.json").read_text())
    probs = model.predict(images, batch_size=batch_size, verbose=0)
    others = load_candidates(choices_list(params, "select.candidates", CANDIDATES))
    info = json.loads(Path("models/backbone/backbone.json").read_text())
    results = {
        **classification_metrics(y, probs),
        "errors": int((probs.argmax(1) != y).sum()),
        "test_images": len(y),
        "chosen": deployed["chosen"],
        **{
            f"{name}_accuracy": score(y, m.predict(images, batch_size=batch_size, verbose=0))["accuracy"]
            for name, m in others.items()
        },
        "params": int(model.count_params()),
        **{f"{name}_params": int(m.count_params()) for name, m in others.items()},
        "backbone": info["backbone"],
        "weights": info["weights"],
        "input": spec.color,
    }
    with Live("metrics/evaluate", dvcyaml=False, save_dvc_exp=False) as live:
        live.summary.update(results)  # -> metrics/evaluate/metrics.json, the file dvc.yaml lists under metrics
        names = [spec.classes[i] for i in y]
        live.log_sklearn_plot("confusion_matrix", names, [spec.classes[i] for i in probs.argmax(1)], name="confusion_matrix.json")
        onehot = np.eye(len(spec.classes))[y]
        live.log_sklearn_plot("roc", onehot.ravel(), probs.ravel(), name="roc_micro.json")
    write_json("metrics/evaluate/per_class.json", per_class_report(y, probs.argmax(1), spec.classes))
    thresholds = confidence_thresholds(get(params, "evaluate.min_confidence"))
    coverage = {"test_images": len(y), "thresholds": coverage_table(y, probs, thresholds)}
    write_json("metrics/evaluate/min_confidence.json", coverage)
    model_name = f"{deployed['chosen']}, {info['backbone']} ({info['weights']})"
    title = f"{model_name}: accuracy {results['accuracy']:.4f}, {results['errors']} errors"
    save_figures("plots", y, probs, spec.classes, title)
    print("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float)))
    print(f"evaluate: deployed {model_name}: {results['errors']} errors in {len(y)} test images")


def confidence_thresholds(value: object) -> list[float]:
    """evaluate.min_confidence: the `predict --min-confidence` values whose effect on the test subset is reported."""
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in value):
        raise UserError(f"params.yaml: 'evaluate.min_confidence' is {value!r}; expected a list of probabilities (0 to 1)")
    return sorted(float(v) for v in value)


if __name__ == "__main__":
    run_stage(main)
