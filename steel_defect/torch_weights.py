"""Read a legacy (pre-zip) PyTorch state dict without PyTorch and without a general unpickle.

The legacy format is a run of pickles: magic number, protocol version, system info, the state dict
(tensors refer to storages by persistent id), the list of storage keys, then each storage's raw bytes
(an int64 element count followed by the elements). Only the handful of globals a state dict needs
are admitted; anything else in the file is refused.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from steel_defect.errors import UserError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    """Placeholder for a storage until its bytes, which follow the pickles, are read."""

    def __init__(self, dtype: np.dtype, key: str, numel: int) -> None:
        self.dtype, self.key, self.numel = dtype, key, numel
        self.array: np.ndarray | None = None


class _LazyTensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        base = self.storage.array
        item = base.itemsize
        return np.lib.stride_tricks.as_strided(
            base[self.offset :], shape=self.size, strides=[s * item for s in self.stride]
        ).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _LazyTensor:
    return _LazyTensor(storage, storage_offset, size, stride)


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: not part of a plain state dict")

    def persistent_load(self, saved_id: Any) -> _Storage:
        kind, storage_type, key, _location, numel, *_ = saved_id
        if kind != "storage" or storage_type not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unexpected persistent id {saved_id!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(np.dtype(STORAGE_DTYPES[storage_type]), key, numel)
        return self.storages[key]


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} in a header pickle")


def read_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Parameter name -> array (float32 weights, int64 counters) from a legacy .pth file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if _PlainUnpickler(f).load() != LEGACY_MAGIC:
                raise UserError(f"{path}: not a legacy PyTorch checkpoint (wrong magic number)")
            _PlainUnpickler(f).load()  # protocol version
            _PlainUnpickler(f).load()  # system info: endianness and type sizes
            storages: dict[str, _Storage] = {}
            state = _StateDictUnpickler(f, storages).load()
            keys = _PlainUnpickler(f).load()
            for key in keys:
                storage = storages[key]
                numel = int(np.frombuffer(f.read(8), "<i8")[0])
                raw = f.read(numel * storage.dtype.itemsize)
                if len(raw) != numel * storage.dtype.itemsize:
                    raise UserError(f"{path}: truncated (storage {key} is incomplete)")
                storage.array = np.frombuffer(raw, storage.dtype.newbyteorder("<"))
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a readable PyTorch state dict ({err})") from None
    if not isinstance(state, dict):
        raise UserError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return {name: tensor.to_numpy() for name, tensor in state.items() if isinstance(tensor, _LazyTensor)}
