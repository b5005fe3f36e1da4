"""The README and docs/ show generated files, never typed tables (steel_defect/readme.py); the README stays a manual."""

import re
from pathlib import Path

import pytest

from steel_defect.errors import UserError
from steel_defect.readme import blocks, documents, render

ROOT = Path(__file__).resolve().parent.parent


def test_every_generated_block_in_the_readme_and_docs_equals_its_file():
    shown = {doc.relative_to(ROOT).as_posix(): blocks(doc.read_text()) for doc in documents(ROOT)}
    assert {"metrics/headline.md", "metrics/evaluate/summary.md"} <= set(shown["README.md"])
    assert {"metrics/seeds.md", "metrics/robust_seeds.md", "metrics/compare.md"} <= set(shown["docs/results.md"])
    for doc, found in shown.items():
        for path, body in found.items():
            assert body == (ROOT / path).read_text(), f"{doc} is stale for {path}: run `make readme`"


def test_the_readme_is_a_manual_a_newcomer_can_read():
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to docs/"
    first = "\n".join(lines[:150])
    for needed in ("make repro", "make test", "steel-defect predict", "dvc exp run -n my-line -S data.source=", "dvc exp apply"):
        assert needed in first, f"a newcomer does not find {needed!r} in the README's first 150 lines"
    assert "<!-- BEGIN metrics/headline.md -->" in first


def test_no_setting_or_code_comment_points_at_a_numbered_round():
    """Comments say why in the present tense; the record of rounds is docs/experiments.md and git history."""
    places = [ROOT / "README.md", ROOT / "params.yaml", *ROOT.glob("steel_defect/*.py"), *ROOT.glob("stages/*.py")]
    places += [*ROOT.glob("tools/*.py")]
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in places for m in re.finditer(r"(?i)\brounds? \d+", p.read_text())]
    assert not found, found


def test_render_replaces_only_the_blocks(tmp_path: Path):
    (tmp_path / "t.md").write_text("| a |\n")
    text = "intro\n<!-- BEGIN t.md -->\nold typed table\n<!-- END t.md -->\nrest\n"
    assert render(text, tmp_path) == "intro\n<!-- BEGIN t.md -->\n| a |\n<!-- END t.md -->\nrest\n"
    with pytest.raises(UserError, match="missing.md: missing"):
        render("<!-- BEGIN missing.md -->\n<!-- END missing.md -->", tmp_path)
