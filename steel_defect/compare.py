"""Published results beside this project's measured ones, without ranking across datasets.

Literature rows come from a committed CSV (data/literature.csv) and are labelled "reported" with
their citation, protocol and hardware; rows the source marks UNVERIFIED say so. Rows on another
dataset (the seed paper's Table 5 compares NEU-CLS with a 3-class rolled-metal set and Severstal)
go to a separate table and never into the ranking or the plot. Our rows are all measured: the
seed aggregate (metrics/seeds.json), the parameter counts and the latency of the deployed model.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from steel_defect.curve import METHODS
from steel_defect.tables import markdown_table

LITERATURE_COLUMNS = [
    "method",
    "dataset",
    "accuracy_pct",
    "protocol",
    "params_M",
    "latency_ms",
    "latency_hw",
    "train_images",
    "citation",
    "doi",
    "source",
    "verification",
]
CANDIDATES = {"accuracy": "deployed (chosen on validation)", "fine_tuned_accuracy": "fine-tuned", "head_accuracy": "head only"}
BASELINE = {"baseline_accuracy": "frozen-feature baseline (logistic regression)"}
TABLE = [
    "origin",
    "method",
    "dataset",
    "accuracy (%)",
    "protocol",
    "params (M)",
    "ms per image",
    "latency hardware",
    "training images",
]
SOURCE = ["citation", "verification"]


def accuracy_range(text: str) -> tuple[float, float, float] | None:
    """'98.06' -> (98.06, 98.06, 98.06); '99.41-99.77' -> (mid, low, high); '~100' -> (100, 100, 100); '' -> None."""
    numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(text))]
    if not numbers:
        return None
    low, high = min(numbers), max(numbers)
    return (low + high) / 2, low, high


def same_dataset(name: str, datasets: list[str]) -> bool:
    """'NEU-CLS (GAN-augmented)' is NEU-CLS; 'rolled-metal 3-class (NOT NEU-CLS)' and 'per seed Table 5' are not."""
    head = str(name).split("(")[0].strip()
    return head in datasets and "NOT" not in str(name)


def literature_rows(table: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    missing = [c for c in LITERATURE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"missing columns {missing}")
    out = pd.DataFrame(
        {
            "origin": np.where(table["verification"].str.contains("UNVERIFIED", na=False), "reported, UNVERIFIED", "reported"),
            "method": table["method"],
            "dataset": table["dataset"],
            "accuracy (%)": table["accuracy_pct"].fillna("").astype(str),
            "protocol": table["protocol"].fillna(""),
            "params (M)": table["params_M"].fillna("").astype(str),
            "ms per image": table["latency_ms"].fillna("").astype(str),
            "latency hardware": table["latency_hw"].fillna(""),
            "training images": table["train_images"].fillna("").astype(str),
            "citation": table["citation"].fillna("")
            + np.where(table["doi"].fillna("") != "", " doi:" + table["doi"].fillna(""), ""),
            "verification": table["verification"].fillna(""),
        }
    )
    out["same_dataset"] = [same_dataset(d, datasets) for d in table["dataset"]]
    return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _pct(summary: dict) -> str:
    if summary["std"] is None:
        return f"{100 * summary['mean']:.2f} (n=1)"
    low, high = summary["ci95"]
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} (n={summary['n']}; 95% CI {100 * low:.2f}-{100 * high:.2f})"


def _hardware(benchmark: dict, runtime: str) -> str:
    machine = benchmark["machine"]
    return f"this machine: {machine['usable_cores']}-core {machine['cpu']} CPU, batch 1, {runtime}"


def measured_rows(seeds: dict, evaluate: dict, benchmark: dict | None, dataset: str, copies: int) -> pd.DataFrame:
    """Our rows: per split strategy, the deployed model and each candidate (mean ± std over seeds)."""
    seeds_text = "metrics/seeds.json" if seeds.get("dataset") else "this run (metrics/evaluate/metrics.json)"
    model = f"{evaluate['backbone']} ({evaluate['weights']}, {evaluate['input']} input)"
    latency_ok = benchmark is not None and benchmark.get("keras", {}).get("params") == evaluate["params"]
    rows = []
    for strategy, result in seeds["strategies"].items():
        train = result.get("train_images")
        train_text = (
            ""
            if train is None
            else f"{train if isinstance(train, int) else '-'.join(map(str, train))} (+{copies} augmented copies each)"
        )
        for key, label in {**CANDIDATES, **BASELINE}.items():
            if key not in result:
                continue
            name = "deployed" if key == "accuracy" else key.removesuffix("_accuracy")
            params = evaluate["params"] if key == "accuracy" else evaluate.get(f"{name}_params")
            deployed = key == "accuracy"
            rows.append(
                {
                    "origin": "measured (this project)",
                    "method": f"{label}: {model}",
                    "dataset": dataset,
                    "accuracy (%)": _pct(result[key])
                    + (f"; {result['total_errors']} errors in {result['test_predictions']}" if deployed else ""),
                    "protocol": f"{strategy} 80/20 split, {_count(len(result['seeds']), 'seed')}; test set held out",
                    "params (M)": "" if params is None else f"{params / 1e6:.2f}",
                    "ms per image": f"{benchmark['keras']['ms_batch1_median']:.1f}" if deployed and latency_ok else "",
                    "latency hardware": _hardware(benchmark, "Keras") if deployed and latency_ok else "",
                    "training images": train_text,
                    "citation": seeds_text,
                    "verification": "measured",
                    "same_dataset": True,
                    "mean": 100 * result[key]["mean"],
                    "std": 100 * (result[key]["std"] or 0.0),
                    "strategy": strategy,
                }
            )
    return pd.DataFrame(rows)


def export_rows(export: dict, benchmark: dict | None, evaluate: dict, dataset: str) -> pd.DataFrame:
    """The exported LiteRT models of this run (metrics/export.json), with their latency while it was measured on them."""
    model = f"{evaluate['backbone']} ({evaluate['weights']}, {evaluate['input']} input)"
    timed = benchmark is not None and benchmark.get("keras", {}).get("params") == evaluate["params"]
    rows = []
    for kind in ("float32", "float16", "int8"):
        if kind not in export:
            continue
        result, speed = export[kind], (benchmark or {}).get(kind) if timed else None
        runtime = f"LiteRT {benchmark['machine']['litert_threads']} threads" if speed else ""
        rows.append(
            {
                "origin": "measured (this project)",
                "method": f"deployed, exported to LiteRT {kind}: {model}",
                "dataset": dataset,
                "accuracy (%)": f"{100 * result['accuracy']:.2f} (n=1); {result['errors']} errors in {export['test_images']}",
                "protocol": "this run's split; test set held out",
                "params (M)": f"{evaluate['params'] / 1e6:.2f}",
                "ms per image": f"{speed['ms_batch1_median']:.2f}" if speed else "",
                "latency hardware": _hardware(benchmark, runtime) if speed else "",
                "training images": "",
                "citation": "metrics/export.json, metrics/benchmark.json",
                "verification": "measured",
                "same_dataset": True,
                "mean": 100 * result["accuracy"],
                "std": 0.0,
                "strategy": f"LiteRT {kind}",
            }
        )
    return pd.DataFrame(rows)


def join(literature: pd.DataFrame, measured: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(same dataset, sorted by accuracy; other datasets, in file order and never ranked)."""
    both = pd.concat([measured, literature], ignore_index=True)
    acc = [accuracy_range(a) for a in both["accuracy (%)"]]
    both["mean"] = both["mean"].where(both["mean"].notna(), [a[0] if a else np.nan for a in acc]) if "mean" in both else np.nan
    same = both[both["same_dataset"]].sort_values("mean", ascending=False, na_position="last", kind="stable")
    other = both[~both["same_dataset"]]
    return same, other


def report(same: pd.DataFrame, other: pd.DataFrame, dataset: str) -> str:
    return (
        f"### {dataset}: measured here and reported in the literature\n\n"
        "Sorted by accuracy; protocols differ (see the protocol column); only this project's rows are measured here.\n\n"
        + markdown_table(same, TABLE + SOURCE)
        + f"\n### Other datasets (not comparable with {dataset}; not ranked)\n\n"
        "The seed paper's Table 5 lists these beside NEU-CLS; they are results on different data.\n\n"
        + markdown_table(other, TABLE + SOURCE)
    )


FEW_LABELS = re.compile(r"(\d+) labell?ed (?:image|sample)s? per class", re.IGNORECASE)


def reported_few_label_points(literature: pd.DataFrame, datasets: list[str]) -> list[tuple[int, float, str]]:
    """(N, accuracy %, label) for each literature row on our data whose protocol says 'N labelled samples per class'.

    Drawn on the learning curve as reported points; the label carries the protocol and the
    verification note (the ISIJ 2022 1-shot figure is over episodes, not the full test set).
    """
    points = []
    for row in literature.itertuples(index=False):
        found = FEW_LABELS.search(str(row.protocol))
        accuracy = accuracy_range(row.accuracy_pct)
        if found and accuracy and same_dataset(row.dataset, datasets):
            note = f"; {row.verification}" if str(row.verification) else ""
            points.append((int(found.group(1)), accuracy[0], f"{row.method}, {row.citation} ({row.protocol}{note})"))
    return points


def curve_rows(curve: dict, evaluate: dict, dataset: str, wanted: tuple[int, ...] = (1, 5, 10)) -> pd.DataFrame:
    """Our few-label rows (metrics/learning_curve.json): at N = 1, 5, 10 per class, the best method's mean ± std over draws."""
    info = curve.get("info", {})
    model = f"{evaluate['backbone']} ({evaluate['weights']})"
    rows = []
    for n in wanted:
        results = {m: curve[m][str(n)] for m in METHODS if str(n) in curve.get(m, {})}
        if not results:
            continue
        method, best = max(results.items(), key=lambda item: item[1]["mean"])
        unlabelled = " + the rest of the training subset unlabelled" if method == "self_training" else ""
        rows.append(
            {
                "origin": "measured (this project)",
                "method": f"few labels, best at N={n}: {METHODS[method]}: {model}",
                "dataset": dataset,
                "accuracy (%)": f"{100 * best['mean']:.2f} ± {100 * best['std']:.2f} ({best['repeats']} draws)",
                "protocol": f"{n} labelled image{'s' if n > 1 else ''} per class{unlabelled}; "
                f"full test subset ({info.get('test_images', '?')} images)",
                "params (M)": "",
                "ms per image": "",
                "latency hardware": "",
                "training images": f"{n * info['classes']} labelled" if "classes" in info else f"{n} per class labelled",
                "citation": "metrics/learning_curve.json",
                "verification": "measured",
                "same_dataset": True,
                "mean": 100 * best["mean"],
                "std": 100 * best["std"],
                "strategy": f"N={n}",
            }
        )
    return pd.DataFrame(rows)


def _short(row: pd.Series) -> str:
    if row["origin"].startswith("measured"):
        return f"{row['method'].split(':')[0]}, {row['strategy']} split (measured here)"
    hardware = f"; {row['latency hardware']}" if str(row["latency hardware"]) else ""
    return f"{row['method'][:40]} (reported{hardware})"


def _message(rows: pd.DataFrame) -> str:
    """The figure's message: our fastest measured CPU row beside the fastest reported one."""
    cpu = rows[rows["cpu_latency"].notna()]
    ours, theirs = cpu[cpu["origin"].str.startswith("measured")], cpu[~cpu["origin"].str.startswith("measured")]
    if ours.empty:
        return "Circles: measured here (mean ± std over seeds); squares: reported."
    best = ours.loc[ours["cpu_latency"].idxmin()]
    text = f"Measured here: {best['mean']:.2f}% at {best['cpu_latency']:.3g} ms per image on this CPU"
    if not theirs.empty:
        fast = theirs.loc[theirs["cpu_latency"].idxmin()]
        text += f"; fastest reported: {fast['mean']:.2f}% at {fast['cpu_latency']:.3g} ms on its own hardware"
    return text + "."


def figure(same: pd.DataFrame, path: str, dataset: str) -> None:
    """Accuracy against size and against CPU latency, same-dataset rows only: ours with ±std bars, the literature as reported.

    Each result has its own colour and marker and one legend entry, so nearby points never hide each other's labels.
    """
    from matplotlib.ticker import LogLocator, NullFormatter

    from steel_defect.plots import plt, save

    rows = same.copy()
    rows["params"] = pd.to_numeric(rows["params (M)"], errors="coerce")
    rows["latency"] = pd.to_numeric(rows["ms per image"], errors="coerce")
    rows["cpu_latency"] = rows["latency"].where(rows["latency hardware"].str.contains("CPU|Raspberry", case=False, na=False))
    rows = rows[rows["mean"].notna() & (rows["params"].notna() | rows["cpu_latency"].notna())].reset_index(drop=True)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5 + 0.22 * len(rows)))
    colours = plt.get_cmap("tab10").colors
    handles = {}
    for ax, column in ((axes[0], "params"), (axes[1], "cpu_latency")):
        for i, row in rows[rows[column].notna()].iterrows():
            ours = row["origin"].startswith("measured")
            style = {"fmt": "o", "ms": 8} if ours else {"fmt": "s", "ms": 7, "mfc": "white"}
            handles[i] = ax.errorbar(
                row[column], row["mean"], yerr=row["std"] if ours else None, capsize=3, color=colours[i % 10], **style
            )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter("{x:g}")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(f"test accuracy on {dataset} (%)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set(title="Accuracy against size", xlabel="parameters (millions, log scale)")
    axes[1].set(
        title="Accuracy against CPU latency, where reported", xlabel="ms per image on a CPU (log scale; hardware differs)"
    )
    order = sorted(handles)
    fig.legend(
        [handles[i] for i in order], [_short(rows.loc[i]) for i in order], loc="lower center", ncol=2, fontsize=8, frameon=False
    )
    fig.suptitle(f"{dataset} only. {_message(rows)}", fontsize=10)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * (len(order) + 1) / 2, 1, 1))
    save(fig, path)
