"""The pull-request report: what changed between a git revision (default `main`) and the workspace.

    python -m steel_defect.report [--rev main] [--out report]      (or `make report`)

Writes OUT/report.md: `dvc params diff`, `dvc metrics diff` (both as DVC prints them with --md) and
every plot whose data differs, as PNG images beside the Markdown: DVC's line plots rendered from
their Vega-Lite specs (vl-convert), image plots shown old | new. `cml comment create OUT/report.md`
uploads the images with the comment (see .github/workflows/cml.yaml). Reads only; never changes
the workspace.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from pathlib import Path

import vl_convert

from steel_defect.errors import UserError, run_stage


def dvc(*args: str) -> str:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UserError(f"`dvc {' '.join(args)}` failed: {last}")
    return result.stdout


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")[:80] or "plot"


def _vega_changed(spec: dict, rev: str) -> bool:
    """True when the plot's rows for `rev` differ from the workspace's (or either side has none)."""
    rows: dict[str, list] = {}
    for value in spec.get("data", {}).get("values", []):
        row = {k: v for k, v in value.items() if k != "rev"}
        rows.setdefault(value.get("rev"), []).append(json.dumps(row, sort_keys=True))
    old, new = sorted(rows.get(rev, [])), sorted(rows.get("workspace", []))
    return old != new


def changed_plots(rev: str, out: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(plot name, [(caption, image path relative to out)]) for each plot whose data changed."""
    raw = out / "dvc-plots"
    listing = json.loads(dvc("plots", "diff", rev, "--json", "-o", str(raw)) or "{}").get("data", {})
    changed = []
    for name, renderers in listing.items():
        images = [r for r in renderers if r.get("type") == "image"]
        vegas = [r for r in renderers if r.get("type") == "vega"]
        if images:
            by_rev = {r["revisions"][0]: Path(r["url"]) for r in images}
            old, new = by_rev.get(rev), by_rev.get("workspace")
            if old is None or new is None or old.read_bytes() != new.read_bytes():
                shown = []
                for label, path in ((rev, old), ("workspace", new)):
                    if path is not None:
                        target = out / f"{_slug(name)}-{_slug(label)}{path.suffix}"
                        shutil.copyfile(path, target)
                        shown.append((label, target.name))
                changed.append((name, shown))
        for r in vegas:
            if _vega_changed(r["content"], rev):
                target = out / f"{_slug(name)}.png"
                target.write_bytes(vl_convert.vegalite_to_png(r["content"], scale=1.5))
                changed.append((name, [(f"{rev} and workspace", target.name)]))
    shutil.rmtree(raw, ignore_errors=True)
    return changed


def build(rev: str, out: Path) -> str:
    """The report's Markdown; images are written into `out` beside it."""
    params = dvc("params", "diff", rev, "--md").strip() or "No param changed."
    metrics = dvc("metrics", "diff", rev, "--md").strip() or "No metric changed."
    plots = changed_plots(rev, out)
    lines = [f"## Changes against `{rev}`", "", "### Params", "", params, "", "### Metrics", "", metrics, "", "### Plots", ""]
    if not plots:
        lines.append("No plot changed.")
    for name, images in plots:
        lines += [f"#### {name}", ""]
        if len(images) == 2:
            lines += [f"| {images[0][0]} | {images[1][0]} |", "|---|---|", f"| ![]({images[0][1]}) | ![]({images[1][1]}) |", ""]
        else:
            lines += [f"![{caption}]({path})" for caption, path in images] + [""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Markdown report of params, metrics and plots changed against a revision.")
    parser.add_argument("--rev", default="main", help="git revision to compare the workspace with (default: main)")
    parser.add_argument("--out", default="report", help="folder for report.md and its images (default: report/)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        foreign = [p.name for p in out.iterdir() if p.name != "report.md" and p.suffix != ".png"]
        if foreign:
            raise UserError(
                f"{out}/ holds files this command did not write ({', '.join(sorted(foreign)[:3])}); choose another --out"
            )
        for old in out.iterdir():
            old.unlink()  # only a previous report and its images
    out.mkdir(parents=True, exist_ok=True)
    text = build(args.rev, out)
    (out / "report.md").write_text(text)
    print(f"report: {out / 'report.md'} ({len(list(out.glob('*.png')))} images)")


if __name__ == "__main__":
    run_stage(main)
