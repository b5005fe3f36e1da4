"""Read params.yaml and check each value, naming the key when one is wrong.

Every key a stage reads goes through `get`, which records it in READ: a test compares that record
with the `params:` each stage declares in dvc.yaml, so DVC reruns a stage exactly when a key it
reads changes.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from steel_defect.errors import UserError

_MISSING = object()
READ: set[str] = set()

# Every key params.yaml may hold, in steel_defect/params_schema.yaml: data beside the code, so that
# declaring a new stage's key does not change this module, which every stage depends on.
SCHEMA = Path(__file__).with_name("params_schema.yaml")
KNOWN_KEYS: dict[str, list[str] | None] = yaml.safe_load(SCHEMA.read_text())
KNOWN = {f"{section}.{key}" if keys else section for section, keys in KNOWN_KEYS.items() for key in (keys or [None])}


def load_params(path: str | Path = "params.yaml") -> dict:
    """Load the whole params file; a missing or malformed file, or an unknown key, is a UserError."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: params file not found (run from the repository root)") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path}: expected a mapping of sections")
    for key in _dotted_keys(params):
        if not _known(key):
            raise UserError(f"{path}: unknown key '{key}'{_suggest(key)}")
    return params


def _known(key: str) -> bool:
    """In the schema, or at / below a free-form key ('finetune.unfreeze_from' or 'finetune.unfreeze_from.nasnet_mobile')."""
    return key in KNOWN or any(k.endswith(".*") and (key == k[:-2] or key.startswith(k[:-1])) for k in KNOWN)


def _dotted_keys(node: dict, prefix: str = "") -> list[str]:
    """Leaf keys as 'section.key'; a section whose schema lists no keys (optimizer) is a leaf itself."""
    keys = []
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in KNOWN:
            keys.extend(_dotted_keys(value, key + "."))
        else:
            keys.append(key)
    return keys


def _suggest(key: str) -> str:
    names = sorted(k.removesuffix(".*") for k in KNOWN)
    last = key.rsplit(".", 1)[-1]
    same_leaf = [k for k in names if k.rsplit(".", 1)[-1] == last]
    close = same_leaf or difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; known sections: {', '.join(KNOWN_KEYS)}"


def get(params: dict, key: str, default: Any = _MISSING) -> Any:
    """Look up a dotted key such as 'split.seed' (and record that it was read)."""
    READ.add(key)
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
        if high is None:
            expected = f"{'more than' if open_low else 'at least'} {low}"
        else:
            expected = f"a value in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise UserError(f"params.yaml: '{key}' is {value}; expected {expected}")
    return float(value)


def fraction(params: dict, key: str, default: Any = _MISSING) -> float:
    """A fraction strictly between 0 and 1."""
    return number(params, key, 0.0, 1.0, open_low=True, open_high=True, default=default)


def boolean(params: dict, key: str) -> bool:
    value = get(params, key)
    if not isinstance(value, bool):
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected true or false")
    return value


def size_or_null(params: dict, key: str) -> tuple[int, int] | None:
    """[width, height] of positive integers, or null."""
    value = get(params, key)
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected [width, height] or null")
    return int(value[0]), int(value[1])


def choices_list(params: dict, key: str, allowed: list[str]) -> list[str]:
    """A non-empty list drawn from `allowed`, in the user's order."""
    value = get(params, key)
    if not (isinstance(value, list) and value and all(v in allowed for v in value)):
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected a non-empty list of {', '.join(allowed)}")
    return value


def strings(params: dict, key: str) -> list[str]:
    """A non-empty list of non-empty strings."""
    value = get(params, key)
    if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected a non-empty list of names")
    return value


def unfreeze_setting(params: dict) -> int | str:
    """finetune.unfreeze_from: one value, or a mapping backbone -> value so switching backbones needs no other edit.

    Here, not in steel_defect.model, so that code without Keras (the robustness tables) reads the
    setting the way the features stage does.
    """
    value = get(params, "finetune.unfreeze_from")
    if isinstance(value, dict):
        backbone = get(params, "model.backbone")
        if backbone not in value:
            raise UserError(f"params.yaml: 'finetune.unfreeze_from' has no entry for backbone {backbone!r}; add one")
        value = value[backbone]
    return value
