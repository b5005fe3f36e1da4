"""dvc.yaml must say exactly what each stage reads, or `dvc repro` reruns too much or too little."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC["stages"]


def _imports(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("steel_defect"):
            mods |= {f"steel_defect.{a.name}" for a in node.names} if node.module == "steel_defect" else {node.module}
        elif isinstance(node, ast.Import):
            mods |= {a.name for a in node.names if a.name.startswith("steel_defect.")}
    return mods


def module_closure(script: Path) -> set[str]:
    """Every steel_defect module the script imports, directly or through other modules, as file paths."""
    seen, todo = set(), list(_imports(script))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += _imports(ROOT / (module.replace(".", "/") + ".py"))
    return {m.replace(".", "/") + ".py" for m in seen}


def declared_params(stage: str) -> list[str]:
    return [p if isinstance(p, str) else next(iter(p)) for p in STAGES[stage].get("params", [])]


def check_params_read(stage: str, read: set[str]) -> None:
    """The keys a stage read are covered by its declared params, and every declared param was read."""
    declared = declared_params(stage)
    covered = lambda key, d: key == d or key.startswith(d + ".")  # noqa: E731
    undeclared = sorted(k for k in read if not any(covered(k, d) for d in declared))
    assert not undeclared, f"{stage} reads {undeclared} but dvc.yaml does not list them under params"
    unread = sorted(d for d in declared if not any(covered(k, d) for k in read))
    assert not unread, f"{stage} lists {unread} under params but never reads them"


@pytest.mark.parametrize("stage", STAGES)
def test_deps_are_exactly_the_modules_the_stage_imports(stage: str):
    script = ROOT / "stages" / f"{stage}.py"
    assert STAGES[stage]["cmd"] == f"python -m stages.{stage}"
    deps = set(STAGES[stage]["deps"])
    assert f"stages/{stage}.py" in deps
    declared = {d for d in deps if d.startswith("steel_defect/")}
    assert declared == module_closure(script), f"{stage}: deps {sorted(declared)} vs imports {sorted(module_closure(script))}"


def test_every_metrics_file_is_declared():
    declared = set(DVC["metrics"])
    for stage in STAGES.values():
        for out in stage["outs"]:
            path = out if isinstance(out, str) else next(iter(out))
            if path.startswith("metrics/") and not path.endswith(".md"):  # .md: a report to read, not a metric
                metric = path if path.endswith(".json") else f"{path}/metrics.json"
                assert metric in declared, f"{metric} is written by a stage but not listed under metrics"


def test_optimizer_stays_a_top_level_key():
    assert "optimizer" in yaml.safe_load((ROOT / "params.yaml").read_text())
    assert "optimizer" in declared_params("fine_tune")


def _outs(stage: dict) -> set[str]:
    found = set()
    for key in ("outs", "metrics", "plots"):
        for out in stage.get(key, []):
            found.add(out if isinstance(out, str) else next(iter(out)))
    return found


def test_every_file_in_metrics_and_plots_is_a_stage_output_or_a_declared_aggregate():
    """metrics/ and plots/ hold what the pipeline writes; a one-off table belongs in docs/experiments/."""
    outs = {o for stage in STAGES.values() for o in _outs(stage)}
    top = set(DVC.get("metrics", [])) | {p if isinstance(p, str) else next(iter(p)) for p in DVC.get("plots", [])}
    for entry in DVC.get("plots", []):
        if isinstance(entry, dict):
            y = next(iter(entry.values())).get("y")
            top |= set(y) if isinstance(y, dict) else set()
    declared = outs | top | {Path(p).with_suffix(".md").as_posix() for p in top if p.endswith(".json")}  # a table beside it
    files = [p for folder in ("metrics", "plots") for p in (ROOT / folder).rglob("*") if p.is_file()]
    stray = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts):  # a running stage's temporary output (atomic.py)
            continue
        if not any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in declared):
            stray.append(rel)
    assert not stray, f"not written by a stage nor declared in dvc.yaml: {stray}"


def test_every_package_module_serves_a_stage_the_cli_or_a_make_target():
    """steel_defect/ is the product; analysis for one question lives apart from it, and goes when answered."""
    makefile = (ROOT / "Makefile").read_text()
    entry_points = [*(ROOT / "stages").glob("*.py"), ROOT / "steel_defect" / "cli.py"]
    entry_points += [ROOT / (m.replace(".", "/") + ".py") for m in re.findall(r"-m ((?:steel_defect|tools)\.\w+)", makefile)]
    used = {"steel_defect/cli.py", "steel_defect/__init__.py"}
    for script in entry_points:
        used |= module_closure(script) | {script.relative_to(ROOT).as_posix()}
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "steel_defect").glob("*.py")}
    assert not modules - used, f"no stage, CLI command or make target imports {sorted(modules - used)}"
