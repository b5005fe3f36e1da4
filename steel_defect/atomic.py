"""Write stage outputs all-or-nothing and byte-reproducibly.

All-or-nothing: a failed or interrupted stage leaves its previous output (or none), never a
half-written one; leftovers of a killed run are removed when the same output is next written.
Byte-reproducible: .npz and .keras files are zip archives that normally carry the time they were
written; here every member gets a fixed date, so the same run gives the same bytes and dvc.lock
hashes change only when content does.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip member can carry


def _default_mode(directory: bool) -> int:
    """Permissions a plain mkdir/open would give; mkdtemp and mkstemp make private 0700/0600 ones."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _remove_leftovers(path: Path) -> None:
    """Temporaries of an earlier run of the same output that was killed (SIGKILL runs no cleanup)."""
    for old in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    tmp.chmod(_default_mode(directory=True))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; it is renamed onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(_default_mode(directory=False))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data: Any) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def _zip_member(zf: zipfile.ZipFile, name: str, data: bytes, compress: int = zipfile.ZIP_DEFLATED) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez (uncompressed: activations hardly compress and are read often), with fixed member dates."""
    with atomic_file(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            _zip_member(zf, f"{key}.npy", buffer.getvalue(), zipfile.ZIP_STORED)


def _renumber_shared_ids(node: Any, ids: dict[int, int]) -> Any:
    """Keras writes `shared_object_id` as Python id()s, memory addresses that change every run; number them 0, 1, ..."""
    if isinstance(node, dict):
        return {
            k: ids.setdefault(v, len(ids)) if k == "shared_object_id" else _renumber_shared_ids(v, ids) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_renumber_shared_ids(v, ids) for v in node]
    return node


def save_model(model, path: str | Path) -> None:
    """model.save, then the archive rewritten without its save date and memory addresses: equal models, equal bytes."""
    with atomic_file(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp) as zf:
            members = [(info.filename, zf.read(info)) for info in zf.infolist()]
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, data in members:
                if name == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop("date_saved", None)
                    data = json.dumps(metadata, sort_keys=True).encode()
                elif name == "config.json":
                    data = json.dumps(_renumber_shared_ids(json.loads(data), {})).encode()
                _zip_member(zf, name, data)
