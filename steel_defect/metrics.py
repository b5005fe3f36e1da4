"""Test-set metrics, the logistic-regression baseline, and the figures that go with them."""

from __future__ import annotations

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

from steel_defect.atomic import atomic_file  # noqa: E402


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


def baseline_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int = 0) -> float:
    """Plain logistic regression on frozen pooled features, no augmentation: the bar training must clear."""
    model = LogisticRegression(max_iter=5000, random_state=seed).fit(x_train, y_train)
    return float(accuracy_score(y_test, model.predict(x_test)))


def save_figures(folder: str | Path, y_true: np.ndarray, probs: np.ndarray, classes: list[str], title: str) -> None:
    """Confusion matrix and one-vs-rest ROC curves as PNGs."""
    folder = Path(folder)
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        probs.argmax(1),
        labels=range(len(classes)),
        display_labels=classes,
        ax=ax,
        cmap="Blues",
        colorbar=False,
        xticks_rotation=35,
    )
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_file(folder / "confusion_matrix.png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 5.5))
    for i, name in enumerate(classes):
        RocCurveDisplay.from_predictions(y_true == i, probs[:, i], name=name, ax=ax, plot_chance_level=(i == 0))
    ax.set_title(f"One-vs-rest ROC, test set\n{title}", fontsize=9)
    fig.tight_layout()
    with atomic_file(folder / "roc.png") as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
