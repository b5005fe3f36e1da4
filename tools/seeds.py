"""Aggregate the seed experiments into metrics/seeds.json (n, mean, std, 95% interval per split strategy).

Run the seeds with DVC's queue first (see docs/results.md, "Over several split seeds"):

    dvc exp run --queue -S 'split.seed=range(0,5)' -S 'split.strategy=stratified,grouped' \\
        -S data.source=$(realpath ../shared/data/NEU-CLS)
    dvc queue start --jobs 1
    python -m tools.seeds      # --replace: overwrite a file that holds more runs than now match
                               # --reference REV: match against that commit or experiment instead
                               # --name NAME: write docs/experiments/seeds-NAME.* (a round of its own)

Reads `dvc exp show --json -A` and never touches the workspace, so uncommitted work is safe.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from steel_defect.atomic import atomic_file, write_json
from steel_defect.deploy import git_commit
from steel_defect.errors import UserError, run_stage
from steel_defect.report import dvc
from steel_defect.seeds import MACHINE, TARGETS, Run, Upstream, aggregate, markdown, runs_from_exp_show, upstream

STEM = "metrics/seeds"  # .json, and .md shown in docs/results.md


def dvc_json(*args: str) -> object:
    """`dvc ARGS --json`, parsed; a failure is one UserError line (steel_defect.report.dvc)."""
    return json.loads(dvc(*args, "--json") or "null")


def recorded_runs(reference: str | None = None, machines: bool = False) -> tuple[list[Run], Run]:
    """Every run DVC recorded (`dvc exp show -A`) and the reference: the workspace's (its dvc.lock must be
    current), or the commit whose hash starts with `reference` (experiments queued from an older commit).

    With `machines`, each run also carries its machine record where only git has it (`with_machine`,
    one `git show` per run without one): only summarisers that compare machines pay for it.
    """
    if reference is None and dvc_json("status"):
        raise UserError("the workspace's dvc.lock is not up to date; run `dvc repro` first (it is the reference run)")
    runs = runs_from_exp_show(dvc_json("exp", "show", "-A"))
    if machines:
        runs = [with_machine(run) for run in runs]
    if reference is not None:
        return runs, find_run(runs, reference, "--reference")
    workspace = next((r for r in runs if r.rev == "workspace"), None)
    if workspace is None or workspace.metrics is None:
        raise UserError("no results in the workspace; run `dvc repro` first")
    return runs, workspace


def file_at(rev: str, path: str) -> tuple[str | None, str]:
    """(text of `path` at git revision `rev`, or None if it has none; git's complaint)."""
    done = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    return (None if done.returncode else done.stdout), done.stderr.strip()


def with_machine(run: Run) -> Run:
    """`run` with the machine fine_tune recorded, read from git where `dvc exp show` could not see it.

    DVC reads a revision's top-level params from that revision's dvc.yaml, and commits between
    664cd10 (which wrote the record) and the dvc.yaml that lists it hold the file unlisted.
    """
    if run.machine is not None or run.rev == "workspace":
        return run
    text, _ = file_at(run.rev, MACHINE)
    machine = (yaml.safe_load(text) or {}).get("machine") if text else None
    return dataclasses.replace(run, machine=machine) if machine else run


def find_run(runs: list[Run], rev: str, flag: str) -> Run:
    """The recorded commit or experiment whose hash starts with `rev` (as `flag` gave it), with results."""
    found = next((r for r in runs if r.rev.startswith(rev) and r.rev != "workspace"), None)
    if found is None or not any(found.files.get(path) for path in TARGETS):
        raise UserError(f"{flag} {rev}: no commit with results by that hash in `dvc exp show -A`")
    return found


def pipeline_of(run: Run) -> str:
    """The dvc.yaml `run` ran: its commit's, or the workspace's.

    What can change a result is the reference's pipeline, not today's: a module a later commit adds
    to a stage's deps is absent from an older run's dvc.lock, and would shut every older run out.
    """
    if run.rev == "workspace":
        return Path("dvc.yaml").read_text()
    text, complaint = file_at(run.rev, "dvc.yaml")
    if text is None:
        raise UserError(f"cannot read dvc.yaml at {run.name} ({run.rev[:7]}): {complaint}")
    return text


def gather(
    summarise: Callable[..., dict],
    target: str | tuple[str, ...],
    reference: str | None = None,
    also: Sequence[str] = (),
    kept: dict | None = None,
    machines: bool = False,
) -> tuple[dict, Run]:
    """`summarise(runs, reference, upstream)` over DVC's recorded runs, matched on what can change the `target` stages' outputs.

    `also` (commits or experiments, for summarisers that take them: robust_seeds.collect) adds the
    runs of further pipelines with the same setting, and `kept` (an earlier table of theirs) its runs.
    `machines` reads the machine records git holds beyond what DVC shows (recorded_runs).
    A reproducibility failure or a mismatched
    reference it finds (ValueError) becomes one UserError line.
    """
    runs, ref = recorded_runs(reference, machines)
    extra = {"also": [find_run(runs, rev, "--also") for rev in also]} if also else {}
    if kept is not None:
        extra["kept"] = kept
    dvc_yaml = yaml.safe_load(pipeline_of(ref))
    ups = [upstream(dvc_yaml, target=t) for t in ((target,) if isinstance(target, str) else target)]
    up = Upstream(code=frozenset().union(*(u.code for u in ups)), params=frozenset().union(*(u.params for u in ups)))
    try:
        return summarise(runs, ref, up, **extra), ref
    except ValueError as err:
        raise UserError(str(err)) from err


def replace_flag(doc: str) -> argparse.ArgumentParser:
    """A parser with the --replace flag every gathering script takes (see refuse_to_shrink)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--replace", action="store_true", help="overwrite a results file that holds more runs than now match")
    return parser


def round_args(doc: str, module: str, also: bool = False) -> tuple[argparse.Namespace, str]:
    """--replace, --reference and --name (and --also and --keep, if `also`) for a script that gathers one
    round of experiments, and the command line that reproduces the call (the generated Markdown names it)."""
    parser = replace_flag(doc)
    parser.add_argument("--reference", help="commit or experiment the runs must match (default: the workspace)")
    if also:
        parser.add_argument(
            "--also", action="append", default=[], help="a further commit or experiment whose pipeline's runs count too"
        )
        parser.add_argument(
            "--keep", action="store_true", help="the runs already in the output file count too, though DVC no longer has them"
        )
    parser.add_argument("--name", help="a round of its own: write its files with -NAME added to their names")
    args = parser.parse_args()
    flags = [("reference", args.reference), *(("also", rev) for rev in getattr(args, "also", [])), ("name", args.name)]
    command = f"python -m {module}" + "".join(f" --{k} {v}" for k, v in flags if v)
    command += " --keep" if getattr(args, "keep", False) else ""
    return args, command


def refuse_to_shrink(path: str, table: dict, count: Callable[[dict], int], replace: bool = False) -> None:
    """Refuse to overwrite `path` with fewer runs than it holds, unless `replace` (the --replace flag).

    After a change to code or params upstream, the experiments already run no longer match the
    workspace's pipeline; a rerun would quietly replace a five-seed result with one seed.
    """
    if replace:
        return
    try:
        old = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return
    if count(old) > count(table):
        raise UserError(
            f"{path}: holds {count(old)} runs but only {count(table)} match the workspace's pipeline now (code or params "
            "they depend on changed since they ran); queue them again, or pass --replace to overwrite it"
        )


def runs_in(table: dict) -> int:
    """How many runs a per-strategy table (seeds, robust_seeds) holds."""
    return sum(len(s["runs"]) for s in table["strategies"].values())


def publish(path: str, table: dict, table_md: str, text: str, count: Callable[[dict], int], replace: bool) -> None:
    """Write a gathered table to `path` (JSON) and its Markdown to `table_md`, refusing to shrink it (refuse_to_shrink)."""
    refuse_to_shrink(path, table, count, replace)
    write_json(path, table)
    with atomic_file(table_md) as tmp:
        tmp.write_text(text)


def main() -> None:
    args, command = round_args(__doc__, "tools.seeds")
    stem = f"docs/experiments/seeds-{args.name}" if args.name else STEM
    out, table_md = f"{stem}.json", f"{stem}.md"
    table, ref = gather(aggregate, "evaluate", args.reference)
    if not table["strategies"]:
        raise UserError("no experiment matches the workspace's pipeline; queue the seeds first (see this file's docstring)")
    commit = (ref.rev if ref.rev != "workspace" else git_commit() or "unknown")[:7]
    publish(out, table, table_md, markdown(table, command, f"{ref.name} (commit {commit})"), runs_in, args.replace)
    for strategy, result in table["strategies"].items():
        acc = result["accuracy"]
        spread = f" +- {acc['std']:.4f}, 95% CI [{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}]" if acc["std"] is not None else ""
        print(
            f"{strategy}: seeds {result['seeds']}: accuracy {acc['mean']:.4f}{spread}; "
            f"{result['total_errors']} errors in {result['test_predictions']} test predictions"
        )
    print(f"-> {out}, {table_md}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
