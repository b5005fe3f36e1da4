"""Accuracy against latency over input sizes, gathered from DVC experiments (`dvc exp show --json`).

Each size is one run of the whole pipeline (`dvc exp run -S model.image_size=160`): the backbone is
fine-tuned at that size and the exported models are timed by the benchmark stage of the same run.
This module keeps the runs that are the workspace's pipeline except for `model.image_size` (and an
absolute `data.source`), the way `steel_defect.seeds` keeps the seeds, and lays out per size the
test accuracy of every model beside its batch-1 latency: the trade-off as a table and a figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from steel_defect.plots import plt, save
from steel_defect.seeds import Run, Upstream, same_pipeline
from steel_defect.tables import markdown_table

VARIED = ("model.image_size", "data.source")
BENCHMARK = "metrics/benchmark.json"
EXPORT = "metrics/export.json"
KINDS = ("keras", "float32", "float16", "int8")  # the benchmark's models, in the table's order


def image_size(run: Run) -> int:
    return int(run.params["model"]["image_size"])


def collect(runs: list[Run], reference: Run, up: Upstream) -> dict:
    """Per input size (largest first): the run used, its test accuracy and each model's speed and size.

    Runs of one size that made different test errors are a reproducibility failure (ValueError); a
    size's first run counts (the workspace comes first in `dvc exp show`), and its timings are that
    run's own, from its benchmark stage.
    """
    chosen: dict[int, Run] = {}
    for run in runs:
        if not same_pipeline(run, reference, up, VARIED) or not run.files.get(BENCHMARK):
            continue
        size = image_size(run)
        if size in chosen and chosen[size].metrics["errors"] != run.metrics["errors"]:
            raise ValueError(
                f"{run.name} and {chosen[size].name} ran the same pipeline at input size {size} "
                f"but made {run.metrics['errors']} and {chosen[size].metrics['errors']} test errors"
            )
        chosen.setdefault(size, run)
    sizes = []
    for size in sorted(chosen, reverse=True):
        run = chosen[size]
        bench, export = run.files[BENCHMARK], run.files.get(EXPORT) or {}
        models = {}
        for kind in KINDS:
            if kind in bench:
                timing = bench[kind]
                models[kind] = {
                    "test_accuracy": timing["test_accuracy"],
                    "errors": (export.get(kind) or {}).get("errors", run.metrics["errors"] if kind == "keras" else None),
                    **{k: timing[k] for k in ("ms_batch1_median", "ms_batch1_p95", "images_per_s_batch", "file_mb", "params")},
                }
        sizes.append(
            {
                "image_size": size,
                "run": run.name,
                "rev": run.rev[:7],
                "deployed": run.metrics.get("chosen"),
                "errors": run.metrics["errors"],
                "test_images": run.metrics["test_images"],
                **{k: run.metrics.get(k) for k in ("accuracy", "fine_tuned_accuracy", "head_accuracy", "baseline_accuracy")},
                "machine": bench.get("machine"),
                "models": models,
            }
        )
    return {"identity": {k: reference.metrics.get(k) for k in ("backbone", "weights", "input")}, "sizes": sizes}


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def markdown(table: dict) -> str:
    """One row per input size: test errors and accuracy, then each model's batch-1 latency and size."""
    rows = []
    for s in table["sizes"]:
        row = {
            "input (px)": s["image_size"],
            "run": s["run"],
            "deployed": s["deployed"],
            "test errors": f"{s['errors']} in {s['test_images']}",
            "test accuracy (%)": _pct(s["accuracy"]),
            "head only (%)": _pct(s["head_accuracy"]),
        }
        for kind, m in s["models"].items():
            row[f"{kind} ms"] = f"{m['ms_batch1_median']:.2f}"
        best = min(s["models"], key=lambda k: s["models"][k]["ms_batch1_median"])
        row["fastest: images/s at batch 32"] = f"{s['models'][best]['images_per_s_batch']:.0f} ({best})"
        row["fastest: file (MB)"] = f"{s['models'][best]['file_mb']:.2f}"
        rows.append(row)
    identity, machines = table["identity"], {str((s["machine"] or {}).get("cpu")) for s in table["sizes"]}
    return (
        markdown_table(pd.DataFrame(rows).fillna(""))
        + f"\nms: median batch-1 latency per image, each run timed by its own benchmark stage ({', '.join(sorted(machines))}, "
        f"LiteRT with 2 threads); test accuracy of the deployed model on one split (seed 0), where one error is "
        f"{100 / table['sizes'][0]['test_images']:.2f} points. Backbone {identity.get('backbone')} ({identity.get('weights')}), "
        f"{identity.get('input')} input, fine-tuned at each size. Generated by `python -m benchmarks.sizes`.\n"
    )


def figure(table: dict, path: str | Path, goal_ms: float | None = None, goal_accuracy: float | None = None) -> None:
    """Test accuracy against batch-1 latency, one line per model kind, points labelled with their input size.

    The goals (dashed) show how far the measured trade-off is from them; x is logarithmic because the
    Keras model is five times slower than LiteRT.
    """
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for offset, kind in enumerate(KINDS):
        points = sorted(
            (s["models"][kind]["ms_batch1_median"], 100 * s["models"][kind]["test_accuracy"], s["image_size"])
            for s in table["sizes"]
            if kind in s["models"]
        )
        if not points:
            continue
        line = ax.plot(
            [p[0] for p in points], [p[1] for p in points], "o-", label="Keras" if kind == "keras" else f"LiteRT {kind}"
        )
        for x, y, label in points:
            ax.annotate(
                f"{label}",
                (x, y),
                textcoords="offset points",
                xytext=(5, -12 - 9 * offset),
                fontsize=7,
                color=line[0].get_color(),
            )
    if goal_ms:
        ax.axvline(goal_ms, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            f"goal {goal_ms} ms",
            (goal_ms, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
        )
    if goal_accuracy:
        ax.axhline(100 * goal_accuracy, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "235" else ""))
    ax.set_xlabel("ms per image, batch 1 (median, log scale); labels: input size in px")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Input size: accuracy against latency ({table['identity'].get('backbone')}, this machine)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    save(fig, path)
