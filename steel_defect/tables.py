"""Markdown tables for the generated reports (compare, seeds, learning curve, experiment tables).

A module of its own, importing nothing from the package, so every report can use it without an
import cycle (compare imports curve, so curve could not borrow compare's table).
"""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """`columns` (default: all) of `frame` as a Markdown table; empty cells for NaN, and "|" inside a cell cannot break a row."""
    columns = list(frame.columns) if columns is None else columns
    cells = frame[columns].fillna("").astype(str).map(lambda v: v.replace("|", "/"))
    header = "| " + " | ".join(map(str, columns)) + " |\n|" + "---|" * len(columns) + "\n"
    return header + "".join("| " + " | ".join(row) + " |\n" for row in cells.itertuples(index=False))
