"""Test-set metrics, the logistic-regression baseline, and the figures that go with them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    RocCurveDisplay,
    accuracy_score,
    classification_report,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

from steel_defect.plots import save, wrap_label  # noqa: E402


def classification_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """The keys dvc.yaml's metrics file promises: accuracy, macro P/R/F1, one-vs-rest ROC AUC, log loss."""
    labels = np.arange(probs.shape[1])
    y_pred = probs.argmax(1)
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "roc_auc_ovr": float(roc_auc_score(y_true, probs, multi_class="ovr", labels=labels)),
        "loss": float(log_loss(y_true, probs, labels=labels)),
    }


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    return classification_report(
        y_true, y_pred, labels=range(len(classes)), target_names=classes, output_dict=True, zero_division=0
    )


def fit_baseline(x_train: np.ndarray, y_train: np.ndarray, c: float, max_iter: int) -> LogisticRegression:
    """Plain logistic regression on frozen pooled features of the training originals: the bar training must clear."""
    return LogisticRegression(C=c, max_iter=max_iter).fit(x_train, y_train)


def confusions(y: np.ndarray, predicted: np.ndarray, classes: list[str]) -> list[tuple[str, str, int]]:
    """(true class, predicted class, count) for every wrong prediction, most frequent first."""
    pairs = Counter((classes[t], classes[p]) for t, p in zip(y, predicted, strict=True) if t != p)
    return [(t, p, n) for (t, p), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]


def most_confused(y_true: np.ndarray, predicted: np.ndarray, classes: list[str]) -> str:
    """The confusion matrix's message: which true class is most often read as which, or that none is."""
    pairs = confusions(y_true, predicted, classes)
    if not pairs:
        return "no test image is confused"
    true, read_as, n = pairs[0]
    return f"most confused: {true} read as {read_as} ({n} of {sum(c for _, _, c in pairs)} errors)"


def save_figures(folder: str | Path, y_true: np.ndarray, probs: np.ndarray, classes: list[str], title: str) -> None:
    """Confusion matrix and one-vs-rest ROC curves as PNGs; figures grow with the number of classes."""
    folder = Path(folder)
    labels = [wrap_label(c) for c in classes]
    side = 4.5 + 0.7 * len(classes)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    ConfusionMatrixDisplay.from_predictions(
        y_true, probs.argmax(1), labels=range(len(classes)), display_labels=labels, ax=ax, cmap="Blues", colorbar=False
    )
    ax.tick_params(axis="both", labelsize=8)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_title(f"{title}\n{most_confused(y_true, probs.argmax(1), classes)}", fontsize=9, wrap=True)
    fig.tight_layout()
    save(fig, folder / "confusion_matrix.png")
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for i, name in enumerate(classes):
        RocCurveDisplay.from_predictions(y_true == i, probs[:, i], name=name, ax=ax, plot_chance_level=(i == 0))
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"One-vs-rest ROC, test set\n{title}", fontsize=9)
    fig.tight_layout()
    save(fig, folder / "roc.png")
