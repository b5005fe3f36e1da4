"""Choose the model users get on validation data, among every candidate the pipeline trains.

Candidates: the fine-tuned network, the head on the frozen backbone, and the logistic-regression
baseline on the same features. Each is scored end to end (raw validation images in). The
candidate with the lowest validation log-loss is the reference: log-loss reads every image's
confidence, so it moves far less from one split to the next than an error count on a few hundred
images, where candidates differ by an image or two. Another candidate replaces it only when it
makes significantly fewer errors: of the images exactly one of the two gets right, it must win
enough that a fair coin would do so with probability below `select.significance` (a one-sided
sign test, McNemar's exact test). One or two errors either way is noise on 288 images: on a
grouped split it once shipped the head, with 2 test errors, over the fine-tuned model's 0.
The test subset plays no part.

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
from scipy.stats import binomtest
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


def right(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Which images a candidate classifies correctly: what the sign test pairs up."""
    return probs.argmax(1) == y


def score(y: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, error count and log-loss of one candidate's predictions."""
    correct = right(y, probs)
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
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Each model on `images` under every setting of `family`: errors in all, log-loss, errors per setting;
    and which perturbed images each got right, in one order for all models.

    Each setting is drawn once (steel_defect.perturb, seeded by `seed`) and shown to every model, so
    the candidates are compared on the same perturbed images.
    """
    out: dict[str, dict] = {name: {"images": 0, "errors": 0, "loss": 0.0, "settings": {}} for name in models}
    correct: dict[str, list[np.ndarray]] = {name: [] for name in models}
    settings = [(name, v) for name, values in family.items() for v in values]
    for i, (name, value) in enumerate(settings, 1):
        shown = perturb(images, name, value, seed)
        for model_name, model in models.items():
            probs = model.predict(shown, batch_size=batch_size, verbose=0)
            correct[model_name].append(right(y, probs))
            s = score(y, probs)
            row = out[model_name]
            row["settings"][setting_label(name, value)] = s["errors"]
            row["errors"] += s["errors"]
            row["loss"] += s["loss"] * len(y)
            row["images"] += len(y)
        done = ", ".join(f"{m} {out[m]['errors']}" for m in models)
        print(f"select: {i}/{len(settings)} perturbed settings scored (errors so far: {done})", flush=True)
    for row in out.values():
        row["loss"] = row["loss"] / row["images"] if row["images"] else 0.0
    return out, {name: np.concatenate(c) if c else np.zeros(0, bool) for name, c in correct.items()}


def _total(s: dict, images: int) -> tuple[int, float]:
    """Errors and mean log-loss over the clean validation images and, if scored, their perturbed copies."""
    extra = s.get("perturbed")
    if not extra:
        return s["errors"], s["loss"]
    n = images + extra["images"]
    return s["errors"] + extra["errors"], (s["loss"] * images + extra["loss"] * extra["images"]) / n


def sign_test(challenger: np.ndarray, reference: np.ndarray) -> tuple[int, int, float]:
    """(images only the challenger gets right, images only the reference gets right, one-sided p-value):
    the chance of the challenger winning that many of the disagreements if neither were better."""
    wins, losses = int((challenger & ~reference).sum()), int((reference & ~challenger).sum())
    p = binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue if wins + losses else 1.0
    return wins, losses, float(p)


def choose(scores: dict[str, dict], images: int, correct: dict[str, np.ndarray], significance: float) -> tuple[str, str]:
    """The winner and a sentence saying why (scores and `correct` are in select.candidates order).

    `images` is the number of clean validation images, which weighs their log-loss against the
    perturbed copies' when candidates carry a 'perturbed' score; `correct` says which validation
    images (clean, then any perturbed copies) each candidate got right.
    """
    order = list(scores)
    total = {n: _total(scores[n], images) for n in order}
    reference = min(order, key=lambda n: (round(total[n][1], 6), order.index(n)))
    tests = {n: sign_test(correct[n], correct[reference]) for n in order if n != reference}
    better = [n for n, (wins, losses, p) in tests.items() if wins > losses and p < significance]
    scope = "validation" if "perturbed" not in scores[reference] else "validation, clean and perturbed,"
    n_images = len(correct[reference])
    if better:
        best = min(better, key=lambda n: (total[n][0], order.index(n)))
        wins, losses, p = tests[best]
        return best, (
            f"significantly fewer {scope} errors than {reference}, the lowest log-loss ({total[best][0]} against "
            f"{total[reference][0]} in {n_images}; right on {wins} of the {wins + losses} images where they differ, "
            f"sign test p = {p:.2g} < {significance:g})"
        )
    others = "; ".join(f"{n} {total[n][0]} (p = {tests[n][2]:.2g})" for n in order if n != reference)
    return reference, (
        f"lowest {scope} log-loss ({total[reference][1]:.2e}); errors in {n_images}: {reference} {total[reference][0]}, "
        f"{others}: no candidate significantly fewer (sign test, p < {significance:g})"
    )
