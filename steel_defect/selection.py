"""Choose the model users get on validation data, among every candidate the pipeline trains.

Candidates: the fine-tuned network, the head on the frozen backbone, and the logistic-regression
baseline on the same features. Each is scored end to end (raw validation images in) and the one
with the most correct validation predictions wins; a tie goes to the lower validation log-loss,
then to the order of select.candidates. The test subset plays no part.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import log_loss

from steel_defect.errors import UserError
from steel_defect.model import assemble

CANDIDATES = ["fine_tuned", "head", "baseline"]
POOLED_HEADS = {"head": "models/head.keras", "baseline": "models/baseline.keras"}
FINE_TUNED = "models/fine_tuned.keras"
BACKBONE = "models/backbone/backbone.keras"


def load_candidates(names: list[str]) -> dict[str, keras.Model]:
    """Each named candidate as a whole model: raw image in, class probabilities out."""
    for name in names:
        path = Path(FINE_TUNED if name == "fine_tuned" else POOLED_HEADS[name])
        if not path.exists():
            raise UserError(f"{path}: missing; run `dvc repro` up to the stage that writes it")
    backbone = keras.models.load_model(BACKBONE) if set(names) & set(POOLED_HEADS) else None
    return {
        name: keras.models.load_model(FINE_TUNED)
        if name == "fine_tuned"
        else assemble(backbone, keras.models.load_model(POOLED_HEADS[name]))
        for name in names
    }


def score(y: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, error count and log-loss of one candidate's predictions."""
    correct = probs.argmax(1) == y
    errors = int((~correct).sum())
    return {
        "accuracy": float(correct.mean()),  # as sklearn's accuracy_score computes it
        "errors": errors,
        "loss": float(log_loss(y, probs, labels=np.arange(probs.shape[1]))),
    }


def choose(scores: dict[str, dict]) -> tuple[str, str]:
    """The winner and a sentence saying why (scores are in select.candidates order)."""
    order = list(scores)
    best = min(order, key=lambda n: (scores[n]["errors"], round(scores[n]["loss"], 6), order.index(n)))
    tied = [n for n in order if n != best and scores[n]["errors"] == scores[best]["errors"]]
    why = f"fewest validation errors ({scores[best]['errors']})"
    if tied:
        why += f", tied with {', '.join(tied)}; lower validation log-loss ({scores[best]['loss']:.2e})"
    return best, why
