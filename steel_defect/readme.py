"""Copy generated Markdown into the README and docs/, so no results table in them is ever typed by hand.

    python -m steel_defect.readme          (or `make readme`; run after `dvc repro` / `make seeds`)

A block in README.md or docs/*.md between `<!-- BEGIN path -->` and `<!-- END path -->` is
replaced by the current content of `path` (metrics/compare.md, metrics/seeds.md, ...; paths from
the repository's root). tests/test_readme.py fails when a block differs from its file.
"""

from __future__ import annotations

import re
from pathlib import Path

from steel_defect.atomic import atomic_file
from steel_defect.errors import UserError, run_stage

BLOCK = re.compile(r"(<!-- BEGIN (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- END (?P=path) -->)", re.S)


def blocks(text: str) -> dict[str, str]:
    """Generated file path -> the text the README holds for it."""
    return {m["path"]: m["body"] for m in BLOCK.finditer(text)}


def render(text: str, root: Path = Path(".")) -> str:
    def fill(match: re.Match) -> str:
        source = root / match["path"]
        if not source.exists():
            raise UserError(f"{source}: missing; generate it first (README.md shows it)")
        return match.group(1) + source.read_text() + match.group(4)

    return BLOCK.sub(fill, text)


def documents(root: Path = Path(".")) -> list[Path]:
    """The files whose blocks are generated: the README and every page under docs/ (not the experiment tables)."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def main() -> None:
    for document in documents():
        text = document.read_text()
        new = render(text)
        if new != text:
            with atomic_file(document) as tmp:
                tmp.write_text(new)
        print(f"readme: {len(blocks(new))} generated blocks in {document} ({'updated' if new != text else 'already current'})")


if __name__ == "__main__":
    run_stage(main)
