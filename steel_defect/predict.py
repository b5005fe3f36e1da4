"""`steel-defect predict`: classify image files with a saved model, write a CSV, and say what failed.

Paths may be files, folders (searched recursively for image suffixes) or glob patterns. Each image
is loaded the way training loaded it (colour mode and size from the model's metadata; 16-bit, CMYK
and alpha images converted, see `images.read_image`). A file that cannot be decoded, for whatever
reason, is reported by name and skipped; the rest are still classified, and the exit code says some
failed. The output path is checked before any image is read, so a long batch never ends in an
unwritable CSV, and every row names the model that answered (file and sha256), so two CSVs from two
models are never confused.
"""

from __future__ import annotations

import csv
import glob
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from steel_defect.deploy import Runner
from steel_defect.errors import UserError
from steel_defect.images import IMAGE_SUFFIXES, read_image

UNCERTAIN = "uncertain"
BATCH = 32
EXIT_SOME_FAILED = 2


@dataclass(frozen=True)
class ModelId:
    """Which model answered: what the CSV and the summary say of it."""

    path: str
    sha256: str
    classes: tuple[str, ...]

    @classmethod
    def of(cls, runner: Runner) -> ModelId:
        from steel_defect.dataset import sha256_of  # pandas comes with it: imported once, when a model is loaded

        return cls(str(runner.path), sha256_of(runner.path), tuple(runner.classes))

    def describe(self) -> str:
        return f"{self.path} (sha256 {self.sha256[:12]}..., classes: {', '.join(self.classes)})"


@dataclass
class Outcome:
    rows: list[dict] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def collect(paths: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to classify, in a stable order without repeats, and (path, reason) for arguments that name nothing."""
    found, missing = {}, []
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            hits = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            hits = [path]
        else:
            hits = sorted(Path(p) for p in glob.glob(arg, recursive=True) if Path(p).is_file())
        if not hits:
            missing.append((arg, "no such file, or no images in that folder or pattern"))
        found.update(dict.fromkeys(hits))
    return list(found), missing


def check_output(path: str | Path) -> Path:
    """Make sure the CSV can be written before any image is read: its folder is created if it can be."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--out {path}: is a folder; give a file name such as {path / 'predictions.csv'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"--out {path}: cannot write there ({err.strerror or err}); choose another path") from None
    return path


def classify(runner: Runner, files: list[Path], min_confidence: float = 0.0, progress: bool = True) -> Outcome:
    """Probabilities for every readable file; unreadable ones go to `failed` with the reason."""
    outcome = Outcome()
    bar = _progress(len(files), progress)
    for start in range(0, len(files), BATCH):
        loaded, arrays = [], []
        for path in files[start : start + BATCH]:
            try:  # read_image turns whatever the decoder raises (bomb, truncated, unknown mode) into a UserError
                arrays.append(read_image(path, runner.channels, runner.size))
                loaded.append(path)
            except UserError as err:
                outcome.failed.append((str(path), str(err).removeprefix(f"{path}: ")))
        if arrays:
            probs = runner.predict(np.stack(arrays).astype(np.float32))
            for path, p in zip(loaded, probs, strict=True):
                best = int(p.argmax())
                outcome.rows.append(
                    {
                        "path": str(path),
                        "predicted": runner.classes[best] if p[best] >= min_confidence else UNCERTAIN,
                        "confidence": round(float(p[best]), 6),
                        **{f"p_{c}": round(float(v), 6) for c, v in zip(runner.classes, p, strict=True)},
                    }
                )
        bar.update(min(BATCH, len(files) - start))
    bar.close()
    return outcome


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="image", desc="predict", disable=not enabled or total <= BATCH, file=sys.stderr)


def write_csv(path: str | Path, rows: list[dict], model: ModelId) -> None:
    """One row per image; the model's file and sha256 on every row, its classes as the p_<class> columns."""
    from steel_defect.atomic import atomic_file

    columns = ["path", "predicted", "confidence", *(f"p_{c}" for c in model.classes), "model", "model_sha256"]
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({**row, "model": model.path, "model_sha256": model.sha256} for row in rows)


def summary(outcome: Outcome, model: ModelId) -> str:
    counts = Counter(r["predicted"] for r in outcome.rows)
    names = [*model.classes, UNCERTAIN] if counts.get(UNCERTAIN) else list(model.classes)
    width = max(map(len, names))
    lines = [f"  {name:<{width}}  {counts.get(name, 0)}" for name in names]
    head = f"predict: {len(outcome.rows)} images classified, {len(outcome.failed)} failed, by model {model.describe()}"
    return "\n".join([head, *lines])
