"""The experiments table finds a metric under its own name or, once DVC prefixes it, under evaluate's file."""

from __future__ import annotations

import pandas as pd
import pytest

from tools.experiments_table import EVALUATE, metric_column


def test_a_metric_is_found_plain_or_prefixed_with_evaluates_file_and_a_missing_one_is_named():
    runs = pd.DataFrame(columns=["errors", f"{EVALUATE}:test_images", "metrics/export.json:test_images"])
    assert metric_column(runs, "errors") == "errors"
    assert metric_column(runs, "test_images") == f"{EVALUATE}:test_images", "evaluate's count, not export's"
    with pytest.raises(SystemExit, match="no column 'val_images'"):
        metric_column(runs, "val_images")
