"""Results over several split seeds, gathered from DVC's own experiments (`dvc exp show --json`).

One NEU-CLS test error moves accuracy by 0.28 points, so a single split proves little. The seeds run
as queued DVC experiments; this module keeps the runs that are the same pipeline as the reference
(the workspace's dvc.lock) except for the split seed and strategy, and summarises each metric per
strategy: n, mean, sample std and a 95% Student-t interval for the mean.

"The same pipeline" is checked on what DVC recorded, not on names: equal params (except the varied
ones), equal hashes of every code dependency, and the same fetched data (the hash of data/raw, so
an absolute `data.source` given to a queued run in a temporary folder still counts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pandas as pd
from scipy import stats

from steel_defect.tables import markdown_table

VARIED = ("split.seed", "split.strategy", "data.source")
EVALUATE = "metrics/evaluate/metrics.json"
SUMMARISED = ("accuracy", "errors", "fine_tuned_accuracy", "head_accuracy", "baseline_accuracy", "f1_macro", "loss")
MODEL_IDENTITY = ("backbone", "weights", "input")  # what made a number (evaluate's metrics)
IDENTITY = (*MODEL_IDENTITY, "test_images")
CODE = ("stages/", "steel_defect/")
SPLIT = "metrics/split.json"
DATASET = "metrics/data.json"
DATA = "data/raw"
ROBUSTNESS = "metrics/robustness.json"
MACHINE = "metrics/fine_tune/params.yaml"  # dvclive params, listed under dvc.yaml's top-level params
TARGETS = (EVALUATE, ROBUSTNESS)  # the stages experiments are run up to; a skipped one leaves a stale file


@dataclass(frozen=True)
class Run:
    """One pipeline result as DVC recorded it: a commit, the workspace or an experiment."""

    name: str
    rev: str
    params: dict
    code: dict[str, str]
    data: str | None
    files: dict  # every metrics file DVC recorded: path -> its data (evaluate's, benchmark.json, export.json, ...)
    inherited: dict = field(default_factory=dict)  # TARGETS files a targeted experiment left as its baseline's
    machine: dict | None = None  # where fine_tune ran (MACHINE, since 664cd10); None for older runs

    @property
    def identity(self) -> dict:
        """Backbone, weights and input, from evaluate's file (the baseline's if this run skipped evaluate:
        these follow model.* and data.color, which a targeted run rarely changes)."""
        source = self.metrics or self.inherited.get(EVALUATE) or {}
        return {key: source.get(key) for key in MODEL_IDENTITY}

    @property
    def metrics(self) -> dict | None:
        """metrics/evaluate/metrics.json"""
        return self.files.get(EVALUATE)

    @property
    def split(self) -> dict | None:
        """metrics/split.json: images per subset and class"""
        return self.files.get(SPLIT)

    @property
    def dataset(self) -> dict | None:
        """metrics/data.json: images per class"""
        return self.files.get(DATASET)

    @property
    def seed(self) -> int:
        return int(self.params["split"]["seed"])

    @property
    def strategy(self) -> str:
        return str(self.params["split"]["strategy"])


def interval(values: Iterable[float], confidence: float = 0.95) -> dict:
    """n, mean, sample std (ddof=1) and the Student-t interval for the mean; std and interval need n >= 2."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = sum(values) / n
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95": None}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def _without_varied(params: dict, varied: tuple[str, ...] = VARIED) -> dict:
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in params.items()}
    for key in varied:
        section, name = key.split(".")
        out.get(section, {}).pop(name, None)
    return out


def _run(entry: dict, name: str) -> Run | None:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data")
    if not params:
        return None  # a commit from before params.yaml, or a failed experiment
    files = data.get("metrics") or {}
    deps = data.get("deps") or {}
    outs = data.get("outs") or {}
    return Run(
        name=name,
        rev=str(data.get("rev") or entry.get("rev")),
        params=params,
        code={path: d["hash"] for path, d in deps.items() if path.startswith(CODE)},
        data=(outs.get(DATA) or {}).get("hash"),
        files={path: (f or {}).get("data") for path, f in files.items()},
        machine=(((data.get("params") or {}).get(MACHINE) or {}).get("data") or {}).get("machine"),
    )


def _without_stale(run: Run, baseline: Run | None) -> Run:
    """The experiment without the result files (TARGETS) it inherited from its baseline commit unchanged.

    An experiment run to a target (`dvc exp run robustness`) carries the baseline's file of a target
    stage it skipped (evaluate's, say), and DVC still lists it as its own. With other params such a
    file equal to the baseline's is either stale or from a stage the change did not reach, whose
    result the baseline itself already holds: dropping it loses nothing. Equal params: kept, as a
    deterministic rerun of changed code may well reproduce the same file. Files of the stages before
    the targets (split, select) are written by every targeted run and are never stale.
    """
    if baseline is None or run.params == baseline.params:
        return run
    stale = {path for path in TARGETS if run.files.get(path) is not None and run.files.get(path) == baseline.files.get(path)}
    files = {path: data for path, data in run.files.items() if path not in stale}
    return replace(run, files=files, inherited={path: run.files[path] for path in stale})


def runs_from_exp_show(show: list[dict]) -> list[Run]:
    """Every commit, the workspace and every finished experiment in `dvc exp show --json` output."""
    runs = []
    for commit in show:
        rev = str(commit.get("rev"))
        run = _run(commit, commit.get("name") or (rev if rev == "workspace" else rev[:7]))
        if run:
            runs.append(run)
        baseline = run
        for experiment in commit.get("experiments") or []:
            state = (experiment.get("executor") or {}).get("state", "success")
            if state != "success":
                # queued, running or failed: a running experiment's folder still holds the baseline
                # commit's metrics files until its own evaluate rewrites them; they are not its results
                continue
            for rev in experiment.get("revs") or []:
                run = _run(rev, rev.get("name") or experiment.get("name") or str(rev.get("rev"))[:7])
                if run:
                    runs.append(_without_stale(run, baseline))
    return runs


@dataclass(frozen=True)
class Upstream:
    """What can change the test metrics: the code deps and the params of `evaluate` and every stage before it."""

    code: frozenset[str]
    params: frozenset[str]


def upstream(dvc_yaml: dict, target: str = "evaluate") -> Upstream:
    """Walk dvc.yaml from `target` back through the stages whose outputs it reads.

    Stages after it (compare, say) are left out: their code and params cannot change its results,
    so editing them does not disqualify runs made before the edit.
    """
    stages = dvc_yaml["stages"]
    produced = {}
    for name, stage in stages.items():
        for out in (o for kind in ("outs", "metrics", "plots") for o in stage.get(kind, [])):
            produced[out if isinstance(out, str) else next(iter(out))] = name
    seen, todo = set(), [target]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in stages[name].get("deps", []):
            todo += [stage for out, stage in produced.items() if dep == out or dep.startswith(out + "/")]
    deps = {d for n in seen for d in stages[n].get("deps", []) if d.startswith(CODE)}
    params = {p for n in seen for p in stages[n].get("params", []) if isinstance(p, str)}
    return Upstream(code=frozenset(deps), params=frozenset(params))


def _param(params: dict, key: str):
    node = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def same_pipeline(run: Run, reference: Run, up: Upstream, varied: tuple[str, ...] = VARIED, needs: str = EVALUATE) -> bool:
    """Same data, same code and same params (but the `varied` ones) for everything `up` covers, and
    the run's own `needs` file (the result the caller reads; see TARGETS)."""
    if run.files.get(needs) is None or run.data != reference.data:
        return False
    # a module neither has is one a later pipeline added (an --also reference of older code); the
    # reference itself has every module of `up`, which comes from its own dvc.yaml
    if any(run.code.get(path) != reference.code.get(path) for path in up.code):
        return False
    a, b = _without_varied(run.params, varied), _without_varied(reference.params, varied)
    return all(_param(a, key) == _param(b, key) for key in up.params)


def param_differences(a: Run, b: Run, up: Upstream, varied: tuple[str, ...] = VARIED) -> list[str]:
    """The params `up` covers (but the `varied` ones) that both runs set, to different values.

    A key only one of them has is not a difference: it was added to the code after the other ran,
    and its default then is the behaviour before it; say so where it matters (robust_seeds does).
    """
    pa, pb = _without_varied(a.params, varied), _without_varied(b.params, varied)
    differ = []
    for key in sorted(up.params):
        x, y = _param(pa, key), _param(pb, key)
        if x is not None and y is not None and _differ_where_both_set(x, y):
            differ.append(key)
    return differ


def _differ_where_both_set(x, y) -> bool:
    if isinstance(x, dict) and isinstance(y, dict):
        return any(_differ_where_both_set(x[k], y[k]) for k in x.keys() & y.keys())
    return x != y


def _span(values: list[int]) -> int | list[int] | None:
    if not values:
        return None
    return values[0] if len(set(values)) == 1 else [min(values), max(values)]


def aggregate(runs: list[Run], reference: Run, up: Upstream) -> dict:
    """Per split strategy: the runs used (one per seed) and n/mean/std/interval of each summarised metric.

    Two runs of the same seed (the committed run and its experiment, say) must agree on the test
    errors; they are then counted once. A disagreement is a reproducibility failure and is raised.
    """
    chosen: dict[tuple[str, int], Run] = {}
    for run in runs:
        if not same_pipeline(run, reference, up):
            continue
        key = (run.strategy, run.seed)
        if key in chosen and chosen[key].metrics["errors"] != run.metrics["errors"]:
            raise ValueError(
                f"{run.name} and {chosen[key].name} ran the same pipeline on {key[0]} seed {key[1]} "
                f"but made {run.metrics['errors']} and {chosen[key].metrics['errors']} test errors"
            )
        chosen.setdefault(key, run)
    out: dict = {
        "identity": {key: reference.metrics.get(key) for key in IDENTITY} if reference.metrics else reference.identity,
        "dataset": reference.dataset,  # compare uses these seeds only while metrics/data.json still says this
        "strategies": {},
    }
    for strategy in sorted({s for s, _ in chosen}):
        these = sorted((r for (s, _), r in chosen.items() if s == strategy), key=lambda r: r.seed)
        out["strategies"][strategy] = {
            "seeds": [r.seed for r in these],
            "runs": [{"seed": r.seed, "name": r.name, "rev": r.rev[:7], "errors": r.metrics["errors"]} for r in these],
            "test_predictions": sum(int(r.metrics["test_images"]) for r in these),
            "train_images": _span([int(r.split["train"]["total"]) for r in these if r.split]),
            "total_errors": sum(int(r.metrics["errors"]) for r in these),
            **{m: interval(r.metrics[m] for r in these) for m in SUMMARISED if all(m in r.metrics for r in these)},
        }
    return out


def single_run(metrics: dict, strategy: str, seed: int, train_images: int | None) -> dict:
    """The aggregate's shape for one run (n=1), for a dataset whose seeds have not been run."""
    return {
        "dataset": None,
        "strategies": {
            strategy: {
                "seeds": [seed],
                "runs": [{"seed": seed, "name": "workspace", "rev": "workspace", "errors": metrics["errors"]}],
                "test_predictions": int(metrics["test_images"]),
                "total_errors": int(metrics["errors"]),
                "train_images": train_images,
                **{m: interval([metrics[m]]) for m in SUMMARISED if m in metrics},
            }
        },
    }


def _cell(summary: dict | None) -> str:
    if summary is None:
        return ""
    if summary["std"] is None:
        return f"{100 * summary['mean']:.2f}%"
    low, high = summary["ci95"]
    return f"{100 * summary['mean']:.2f}% ± {100 * summary['std']:.2f} [{100 * low:.2f}, {100 * high:.2f}]"


def markdown(table: dict, command: str = "python -m tools.seeds", reference: str | None = None) -> str:
    """The aggregate as a Markdown table: per strategy, errors per seed and mean ± std [95% CI] per candidate."""
    rows = []
    for strategy, result in table["strategies"].items():
        errors = ", ".join(f"{r['errors']}" for r in result["runs"])
        rows.append(
            [strategy, ", ".join(map(str, result["seeds"]))]
            + [f"{errors} ({result['total_errors']} in {result['test_predictions']})"]
            + [_cell(result.get(k)) for k in ("accuracy", "fine_tuned_accuracy", "head_accuracy", "baseline_accuracy")]
        )
    columns = ["split", "seeds", "deployed: test errors per seed", "deployed accuracy", "fine-tuned", "head only", "LR baseline"]
    identity = table.get("identity", {})
    note = (
        f"\nmean ± sample std [95% Student-t interval for the mean; not clipped, so it can pass 100%], test subset; "
        f"backbone {identity.get('backbone')} "
        f"({identity.get('weights')}), {identity.get('input')} input. "
        + (f"Runs of the pipeline of {reference}. " if reference else "")
        + f"Generated by `{command}`.\n"
    )
    return markdown_table(pd.DataFrame(rows, columns=columns)) + note
