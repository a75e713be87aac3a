"""A small, safe reader of PyTorch's legacy (pre-zip) ``torch.save`` format, without torch.

Layout of such a file (what ``torch.save(..., _use_new_zipfile_serialization=False)`` writes):

1. pickle: the magic number 0x1950a86a20f9469cfc6c;
2. pickle: the protocol version (1001);
3. pickle: system info ``{"protocol_version", "little_endian", "type_sizes"}``;
4. pickle: the object (here an ``OrderedDict`` state dict) whose tensors reference storages
   by persistent id ``("storage", <StorageClass>, key, location, numel[, view_metadata])``;
5. pickle: the list of storage keys, in the order their data follows;
6. for each key: an 8-byte little-endian element count, then the raw little-endian elements.

Unpickling is restricted: only the classes in :data:`_ALLOWED` can be named by the file, and
persistent ids must be storage references; anything else raises :class:`TorchFileError`. No
code from the file is ever run.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from landgui.core.errors import LandguiError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class TorchFileError(LandguiError):
    """The file is not a legacy PyTorch file this reader understands (or is not safe)."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _StorageRef:
    def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    def __init__(self, storage: _StorageRef, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(storage, _StorageRef):
        raise TorchFileError("tensor without a storage reference")
    return _TensorRef(storage, storage_offset, size, stride)


def _ordered_dict(*args):
    return OrderedDict(*args)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise TorchFileError(f"refusing to load {module}.{name} from a weights file") from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise TorchFileError(f"unexpected persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise TorchFileError("storage views are not supported")
        return _StorageRef(str(key), stype.dtype, int(numel))


def _load_plain(fh: BinaryIO) -> Any:
    """A pickle that may contain only plain data (no classes at all)."""

    class _Plain(_RestrictedUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            raise TorchFileError(f"unexpected class {module}.{name} in the file header")

    return _Plain(fh).load()


def load_state_dict(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """Read a legacy ``torch.save`` state dict into numpy arrays (float32 etc.)."""
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            magic = _load_plain(fh)
            if magic != MAGIC_NUMBER:
                raise TorchFileError(f"{path.name}: not a legacy PyTorch file (bad magic number)")
            proto = _load_plain(fh)
            if proto != PROTOCOL_VERSION:
                raise TorchFileError(f"{path.name}: unsupported protocol version {proto}")
            info = _load_plain(fh)
            if not (isinstance(info, dict) and info.get("little_endian") is True):
                raise TorchFileError(f"{path.name}: only little-endian files are supported")
            obj = _RestrictedUnpickler(fh).load()
            keys = _load_plain(fh)
        except TorchFileError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise TorchFileError(f"{path.name}: not a readable legacy PyTorch file ({exc})") from None
        if not isinstance(obj, OrderedDict) or not isinstance(keys, list):
            raise TorchFileError(f"{path.name}: expected a state dict")
        refs: dict[str, _StorageRef] = {}
        for t in obj.values():
            if isinstance(t, _TensorRef):
                refs[t.storage.key] = t.storage
        storages: dict[str, np.ndarray] = {}
        for key in keys:
            ref = refs.get(str(key))
            if ref is None:
                raise TorchFileError(f"{path.name}: storage {key} is not referenced")
            (numel,) = struct.unpack("<q", fh.read(8))
            if numel != ref.numel:
                raise TorchFileError(f"{path.name}: storage {key} size mismatch")
            raw = fh.read(numel * ref.dtype.itemsize)
            if len(raw) != numel * ref.dtype.itemsize:
                raise TorchFileError(f"{path.name}: file is truncated")
            storages[str(key)] = np.frombuffer(raw, dtype=ref.dtype)
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, t in obj.items():
        if not isinstance(t, _TensorRef):
            raise TorchFileError(f"{path.name}: entry {name} is not a tensor")
        data = storages[t.storage.key]
        item = data.itemsize
        arr = np.lib.stride_tricks.as_strided(data[t.offset :], shape=t.size, strides=tuple(s * item for s in t.stride))
        out[name] = np.array(arr)  # contiguous copy
    return out
