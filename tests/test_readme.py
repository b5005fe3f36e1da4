"""The README's results tables are the generated files, never typed (steel_defect/readme.py)."""

from pathlib import Path

import pytest

from steel_defect.errors import UserError
from steel_defect.readme import blocks, render

ROOT = Path(__file__).resolve().parent.parent


def test_every_generated_block_in_the_readme_equals_its_file():
    shown = blocks((ROOT / "README.md").read_text())
    assert {"metrics/compare.md", "metrics/seeds.md"} <= set(shown)
    for path, body in shown.items():
        assert body == (ROOT / path).read_text(), f"README.md is stale for {path}: run `make readme`"


def test_render_replaces_only_the_blocks(tmp_path: Path):
    (tmp_path / "t.md").write_text("| a |\n")
    text = "intro\n<!-- BEGIN t.md -->\nold typed table\n<!-- END t.md -->\nrest\n"
    assert render(text, tmp_path) == "intro\n<!-- BEGIN t.md -->\n| a |\n<!-- END t.md -->\nrest\n"
    with pytest.raises(UserError, match="missing.md: missing"):
        render("<!-- BEGIN missing.md -->\n<!-- END missing.md -->", tmp_path)
