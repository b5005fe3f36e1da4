"""Choose the model users get on validation data, among every candidate the pipeline trains.

Candidates: the fine-tuned network, the head on the frozen backbone, and the logistic-regression
baseline on the same features. Each is scored end to end (raw validation images in) and the one
with the most correct validation predictions wins; a tie goes to the lower validation log-loss,
then to the order of select.candidates. The test subset plays no part.

With select.validation: perturbed the count also takes in the validation images under each of
finetune.validation_perturbations (the moderate settings, drawn as fine_tune's early stopping draws
them). Clean validation cannot tell a robust candidate from a fragile one when both make (almost)
no error: on NEU-CLS split seed 4 twice deployed the head on frozen features because it made 0
clean validation errors against the fine-tuned network's 1, and under perturbation the head is the
fragile one (65 perturbed validation errors against 26; docs/experiments.md).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import log_loss

from steel_defect.errors import UserError
from steel_defect.features import setting_label
from steel_defect.model import assemble
from steel_defect.perturb import perturb

CANDIDATES = ["fine_tuned", "head", "baseline"]
VALIDATION = ["clean", "perturbed"]
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


def score_perturbed(
    models: dict[str, keras.Model],
    images: np.ndarray,
    y: np.ndarray,
    family: dict[str, list[float]],
    seed: int,
    batch_size: int = 64,
) -> dict[str, dict]:
    """Each model on `images` under every setting of `family`: errors in all, log-loss, errors per setting.

    Each setting is drawn once (steel_defect.perturb, seeded by `seed`) and shown to every model, so
    the candidates are compared on the same perturbed images.
    """
    out: dict[str, dict] = {name: {"images": 0, "errors": 0, "loss": 0.0, "settings": {}} for name in models}
    settings = [(name, v) for name, values in family.items() for v in values]
    for i, (name, value) in enumerate(settings, 1):
        shown = perturb(images, name, value, seed)
        for model_name, model in models.items():
            s = score(y, model.predict(shown, batch_size=batch_size, verbose=0))
            row = out[model_name]
            row["settings"][setting_label(name, value)] = s["errors"]
            row["errors"] += s["errors"]
            row["loss"] += s["loss"] * len(y)
            row["images"] += len(y)
        done = ", ".join(f"{m} {out[m]['errors']}" for m in models)
        print(f"select: {i}/{len(settings)} perturbed settings scored (errors so far: {done})", flush=True)
    for row in out.values():
        row["loss"] = row["loss"] / row["images"] if row["images"] else 0.0
    return out


def _total(s: dict, images: int) -> tuple[int, float]:
    """Errors and mean log-loss over the clean validation images and, if scored, their perturbed copies."""
    extra = s.get("perturbed")
    if not extra:
        return s["errors"], s["loss"]
    n = images + extra["images"]
    return s["errors"] + extra["errors"], (s["loss"] * images + extra["loss"] * extra["images"]) / n


def choose(scores: dict[str, dict], images: int) -> tuple[str, str]:
    """The winner and a sentence saying why (scores are in select.candidates order).

    `images` is the number of clean validation images, which weighs their log-loss against the
    perturbed copies' when candidates carry a 'perturbed' score.
    """
    order = list(scores)
    total = {n: _total(scores[n], images) for n in order}
    best = min(order, key=lambda n: (total[n][0], round(total[n][1], 6), order.index(n)))
    tied = [n for n in order if n != best and total[n][0] == total[best][0]]
    extra = scores[best].get("perturbed")
    if extra:
        why = (
            f"fewest validation errors, clean and perturbed ({scores[best]['errors']} + {extra['errors']} "
            f"in {images} + {extra['images']})"
        )
    else:
        why = f"fewest validation errors ({scores[best]['errors']})"
    if tied:
        why += f", tied with {', '.join(tied)}; lower validation log-loss ({total[best][1]:.2e})"
    return best, why
