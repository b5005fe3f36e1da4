"""Read params.yaml and check each value, naming the key when one is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from steel_defect.errors import UserError

_MISSING = object()


def load_params(path: str | Path = "params.yaml") -> dict:
    """Load the whole params file; a missing or malformed file is a UserError."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: params file not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path}: expected a mapping of sections")
    return params


def get(params: dict, key: str, default: Any = _MISSING) -> Any:
    """Look up a dotted key such as 'split.seed'."""
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not _MISSING:
                return default
            raise UserError(f"params.yaml: missing key '{key}'")
        node = node[part]
    return node


def choice(params: dict, key: str, choices: list[str], default: Any = _MISSING) -> str:
    value = get(params, key, default)
    if value not in choices:
        raise UserError(f"params.yaml: '{key}' is {value!r}; choose one of {', '.join(map(str, choices))}")
    return value


def integer(params: dict, key: str, minimum: int | None = None, default: Any = _MISSING) -> int:
    value = get(params, key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected an integer")
    if minimum is not None and value < minimum:
        raise UserError(f"params.yaml: '{key}' is {value}; expected at least {minimum}")
    return value


def number(
    params: dict,
    key: str,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
    default: Any = _MISSING,
) -> float:
    """A float within [low, high]; open_low / open_high exclude the ends."""
    value = get(params, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected a number")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        raise UserError(f"params.yaml: '{key}' is {value}; expected a value in {left}{low}, {high}{right}")
    return float(value)


def fraction(params: dict, key: str, default: Any = _MISSING) -> float:
    """A fraction strictly between 0 and 1."""
    return number(params, key, 0.0, 1.0, open_low=True, open_high=True, default=default)
