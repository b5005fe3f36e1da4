"""int8 against Keras under the robustness stage's perturbations, per run and calibration: docs/experiments/int8_robust.*

int8 is not in the default export, so the pipeline never scores its robustness. For each run (HEAD,
or a DVC experiment by name, e.g. one seed of a robust_seeds sweep) and each calibration, this checks
the run out into a temporary git worktree that shares this repository's DVC cache, runs this
checkout's export and robustness stages there with int8 on, and keeps the scores:

    python -m experiments.int8_robust HEAD deep7-s1 deep7-s2 --calibration originals augmented
    python -m experiments.int8_robust HEAD --kind dynamic_range      # int8 weights, float activations
    python -m experiments.int8_robust lit18-s0 --kind dynamic_range --name lit18   # -> docs/experiments/int8_robust-lit18.*

About 5 minutes per run and calibration on 2 idle cores. Rows of earlier calls stay unless the same
run and setting (calibration, or dynamic range, which has none) is measured again; with no run, the
table is written anew from the rows the JSON holds. `--name` keeps another default's runs in a table of
their own, so the means over seeds never mix two trainings of one seed. The workspace is never
touched: only docs/experiments/int8_robust[-NAME].*.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from experiments.lib.int8_robust import FULL, markdown, means, row, setting
from stages.export import CALIBRATION
from steel_defect.atomic import atomic_file, write_json
from steel_defect.errors import UserError, run_stage
from steel_defect.export import DYNAMIC

ROOT = Path(__file__).resolve().parent.parent
OUT, TABLE = Path("docs/experiments/int8_robust.json"), Path("docs/experiments/int8_robust.md")
CODE = (
    "import sys; sys.path.insert(0, {root!r}); from steel_defect.errors import run_stage; "
    "from stages import export, robustness; run_stage(export.main); run_stage(robustness.main)"
)


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def experiment_refs(name: str) -> list[str]:
    """The git refs of DVC experiments called `name` (refs/exps/<baseline>/<name>)."""
    return [r for r in git("for-each-ref", "--format=%(refname)", "refs/exps").splitlines() if r.rsplit("/", 1)[-1] == name]


def resolve(name: str) -> tuple[str, str]:
    """(commit, label) of a DVC experiment's name, or of HEAD or any git revision.

    The label is the experiment's name, or the short commit: HEAD moves, a commit does not.
    """
    refs = experiment_refs(name)
    if len(refs) > 1:
        raise UserError(f"experiment name {name!r} matches {len(refs)} experiments; pass its commit instead")
    try:
        commit = git("rev-parse", "--verify", f"{refs[0] if refs else name}^{{commit}}")
    except subprocess.CalledProcessError:
        raise UserError(f"{name!r} is neither a git revision nor a DVC experiment here (see `dvc exp show`)") from None
    return commit, name if refs else commit[:7]


@contextmanager
def checkout(name: str) -> Iterator[tuple[Path, str, str]]:
    """`name` (see resolve) in a temporary git worktree that shares this repository's DVC cache, with
    its run's data, split, augmented copies and deployed model checked out: (folder, commit, label).

    The worktree is removed afterwards; the workspace is never touched.
    """
    commit, label = resolve(name)
    cache = ROOT / ".dvc" / "cache"
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        work = Path(tmp) / "run"
        git("worktree", "add", "--detach", str(work), commit)
        try:
            setup = (["dvc", "cache", "dir", "--local", str(cache)], ["dvc", "checkout", "fetch", "split", "augment", "select"])
            for command in setup:
                done = subprocess.run(command, cwd=work, capture_output=True, text=True)
                if done.returncode:
                    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                    raise UserError(f"{name}: `{' '.join(command)}` failed in its checkout ({last}); is its data in this cache?")
            yield work, commit, label
        finally:
            git("worktree", "remove", "--force", str(work))


def measure(name: str, calibration: str | None, kind: str = FULL) -> dict:
    """Check `name` out beside the workspace, score its `kind` export (full int8 calibrated on `calibration`) there,
    and return the row."""
    with checkout(name) as (work, commit, label):
        params = yaml.safe_load((work / "params.yaml").read_text())
        params["export"].update(kinds=["float32", "float16", kind], max_int8_drop=100.0)
        if calibration is not None:
            params["export"]["calibration"] = calibration
        params["robustness"]["models"] = ["keras", kind]
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        what = f"calibration {calibration}" if kind == FULL else kind
        print(f"int8_robust: {name} ({commit[:7]}), {what}: export and robustness ...", flush=True)
        if subprocess.run([sys.executable, "-c", CODE.format(root=str(ROOT))], cwd=work).returncode:
            raise UserError(f"{name}, {what}: the export or robustness stage failed (its error is above)")
        robustness = json.loads((work / "metrics" / "robustness.json").read_text())
        return row(label, commit[:7], int(params["split"]["seed"]), calibration, robustness, kind)


def write(rows: list[dict], out: Path, table: Path, name: str | None) -> None:
    """Write the JSON and the table; the command line names, per setting, the runs that made its rows."""
    command = "`; `".join(  # one call per setting reproduces its rows
        f"python -m experiments.int8_robust {' '.join(dict.fromkeys(r['run'] for r in rows if setting(r) == kind))} "
        + (f"--kind {kind}" if kind == DYNAMIC else f"--calibration {kind}")
        + (f" --name {name}" if name else "")
        for kind in dict.fromkeys(setting(r) for r in rows)
    )
    write_json(out, {"runs": rows, "means": means(rows)})
    with atomic_file(table) as tmp:
        tmp.write_text(markdown(rows, command))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="HEAD, a git revision or a DVC experiment name (none: rewrite the table)")
    parser.add_argument("--calibration", nargs="+", choices=CALIBRATION, default=list(CALIBRATION), help="full int8's")
    parser.add_argument("--kind", nargs="+", choices=[FULL, DYNAMIC], default=[FULL], help="the int8 export(s) to score")
    parser.add_argument("--name", help="write docs/experiments/int8_robust-NAME.* (another setting's runs) instead")
    args = parser.parse_args()
    out, table = (
        (OUT, TABLE)
        if not args.name
        else (OUT.with_stem(f"{OUT.stem}-{args.name}"), TABLE.with_stem(f"{TABLE.stem}-{args.name}"))
    )
    rows = json.loads(out.read_text())["runs"] if out.exists() else []
    settings = [(FULL, c) for c in args.calibration] if FULL in args.kind else []
    settings += [(DYNAMIC, None)] if DYNAMIC in args.kind else []
    for name in args.runs:
        for kind, calibration in settings:
            new = measure(name, calibration, kind)
            rows = [r for r in rows if (r["run"], setting(r)) != (new["run"], setting(new))] + [new]
            print(f"int8_robust: {new['run']} {setting(new)}: gap {new['gap_points']:+.2f} points", flush=True)
            write(rows, out, table, args.name)  # after every run: an interrupted sweep keeps what it measured
    write(rows, out, table, args.name)
    print(f"-> {out}, {table}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
