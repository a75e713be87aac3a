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

Nothing in the file is trusted. Each pickle's opcodes are walked before it is unpickled, so a
huge memo index or tuples nested deep enough to overflow the C stack are refused; element
counts are checked against the bytes left in the file before anything is read; every tensor's
offset, sizes and strides are checked against its storage before memory is viewed. A crafted
file gives a :class:`TorchFileError`, never a crash, a read outside a storage or a huge
allocation.
"""

from __future__ import annotations

import io
import math
import pickle
import pickletools
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES: dict[str, np.dtype] = {
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
_MAX_DIMS = 32  # numpy 1.x's limit; real weights have at most 5 or 6
# The arrays returned may total at most this many times the file's size, plus a margin: tied
# weights (two names, one storage) double a storage, but a small file cannot become gigabytes.
_MAX_OUTPUT_FACTOR = 4
_OUTPUT_MARGIN = 64 << 20
# Deepest nesting of objects in a pickle (a state dict needs about 5). Hashing a tuple nested
# some 100,000 deep overflows the C stack, and a pickle can build one with a byte per level.
_MAX_NESTING = 100

# What a corrupt or hostile pickle can raise from the unpickler itself (Warning: a bad escape in
# a STRING opcode warns, which is an error under ``-W error``).
_PICKLE_ERRORS = (
    Warning,
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
    RecursionError,
)


class TorchFileError(LandguiError):
    """The file is not a legacy PyTorch file this reader understands (or is not safe)."""


def _clip(text: str, limit: int = 60) -> str:
    """Text taken from the file, on one short line, for error messages."""
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int = 60) -> str:
    """A short one-line ``repr`` of a value taken from the file, for error messages."""
    try:
        text = repr(value)
    except (ValueError, RecursionError, MemoryError):  # an int too long to print, deep nesting
        text = f"<{value.bit_length()}-bit int>" if isinstance(value, int) else f"<{type(value).__name__}>"
    return _clip(text, limit)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _ReadOnly:
    """Objects the unpickler hands out; a pickle's BUILD opcode cannot change them."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise TorchFileError(f"refusing to set {_clip(name)} on a {type(self).__name__.lstrip('_')}")


class _StorageType(_ReadOnly):
    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)


class _StorageRef(_ReadOnly):
    __slots__ = ("key", "stype", "numel")
    key: str
    stype: _StorageType
    numel: int

    def __init__(self, key: str, stype: _StorageType, numel: int) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "stype", stype)
        object.__setattr__(self, "numel", numel)


class _TensorRef(_ReadOnly):
    """A tensor as the file describes it; its layout is checked by :func:`_check_layout`."""

    __slots__ = ("storage", "offset", "size", "stride")
    storage: _StorageRef
    offset: Any
    size: Any
    stride: Any

    def __init__(self, storage: _StorageRef, offset: Any, size: Any, stride: Any) -> None:
        object.__setattr__(self, "storage", storage)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "stride", stride)


class _Function(_ReadOnly):
    """A function the file may call, wrapped so that the file cannot change its attributes."""

    __slots__ = ("fn",)
    fn: Any

    def __init__(self, fn: Any) -> None:
        object.__setattr__(self, "fn", fn)

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    if not isinstance(storage, _StorageRef):
        raise TorchFileError("tensor without a storage reference")
    return _TensorRef(storage, storage_offset, size, stride)


def _ordered_dict(*args):
    return OrderedDict(*args)


_STORAGE_TYPES = {name: _StorageType(name) for name in _STORAGE_DTYPES}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _Function(_ordered_dict),
    ("torch._utils", "_rebuild_tensor_v2"): _Function(_rebuild_tensor_v2),
    **{("torch", name): stype for name, stype in _STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise TorchFileError(f"refusing to load {_clip(f'{module}.{name}', 120)} from a weights file") from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise TorchFileError(f"unexpected persistent id {_show(pid, 80)}")
        _, stype, key, _location, numel = pid[:5]
        if len(pid) > 5 and pid[5] is not None:
            raise TorchFileError("storage views are not supported")
        if not isinstance(key, str):
            raise TorchFileError(f"storage key {_show(key)} is not a string")
        if not _is_int(numel) or numel < 0:
            raise TorchFileError(f"storage {_show(key)}: element count {_show(numel)} is not a non-negative integer")
        return _StorageRef(key, stype, numel)


class _PlainUnpickler(_RestrictedUnpickler):
    """For the pickles that may contain only plain data (no classes at all)."""

    def find_class(self, module: str, name: str) -> Any:
        raise TorchFileError(f"unexpected class {_clip(f'{module}.{name}', 120)} in the file header")


_IN_PLACE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}


def _check_pickle(stream: io.BytesIO) -> None:
    """Walk the opcodes of the pickle at the stream's position without building anything.

    CPython's unpickler trusts two things in a pickle that a few bytes can abuse: a memo index
    (``LONG_BINPUT 4000000000`` makes it allocate and zero a 32 GB memo table) and the nesting
    of what it builds (hashing a deeply nested tuple overflows the C stack). This follows each
    object's nesting depth on a model of the unpickler's stack and refuses both. The stream is
    left where it was.
    """
    start = stream.tell()
    stack: list[int | None] = []  # nesting depth of each object; None for a mark
    memo: dict[Any, int] = {}
    try:
        for count, (op, arg, _pos) in enumerate(pickletools.genops(stream)):
            name = op.name
            if name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                index: Any = len(memo) if name == "MEMOIZE" else arg
                top = stack[-1]
                if index > count or top is None:
                    raise TorchFileError(f"bad memo index {_show(index)} in a pickle")
                memo[index] = top
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, 0))
            elif name == "MARK":
                stack.append(None)
            elif name == "POP":
                stack.pop()
            elif name == "DUP":
                if stack[-1] is None:
                    raise TorchFileError("malformed pickle (DUP of a mark)")
                stack.append(stack[-1])
            else:
                popped: list[int | None] = []
                before = op.stack_before
                if pickletools.markobject in before:
                    mark = len(stack) - 1 - stack[::-1].index(None)
                    popped, before = stack[mark + 1 :], before[: before.index(pickletools.markobject)]
                    del stack[mark:]
                if before:
                    if len(stack) < len(before):
                        raise TorchFileError(f"malformed pickle (stack underflow at {name})")
                    popped = stack[-len(before) :] + popped
                    del stack[-len(before) :]
                depths = [d for d in popped if d is not None]
                if len(depths) != len(popped):
                    raise TorchFileError(f"malformed pickle (mark in the way of {name})")
                if name in _IN_PLACE:  # the container keeps its place; what goes in sits below it
                    depth = max([depths[0], *(d + 1 for d in depths[1:])])
                else:
                    depth = 1 + max(depths) if depths else 0
                if depth > _MAX_NESTING:
                    raise TorchFileError(f"objects nested more than {_MAX_NESTING} deep in a pickle")
                stack.extend([depth] * len(op.stack_after))
    except (ValueError, IndexError, Warning) as exc:  # what pickletools and the model raise on garbage
        raise TorchFileError(f"not a readable legacy PyTorch file ({_clip(str(exc), 120)})") from None
    stream.seek(start)


def _unpickle(stream: io.BytesIO, unpickler: type[pickle.Unpickler]) -> Any:
    _check_pickle(stream)
    return unpickler(stream).load()


def load_state_dict(path: str | Path) -> OrderedDict[str, np.ndarray]:
    """Read a legacy ``torch.save`` state dict into numpy arrays (float32 etc.)."""
    path = Path(path)
    try:
        data = path.read_bytes()  # whole: the storages are nearly all of it, and are read anyway
    except OSError as exc:
        raise TorchFileError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None
    try:
        obj, storages = _read(data)
        return _tensor_arrays(obj, storages, len(data))
    except TorchFileError as exc:
        raise TorchFileError(f"{path.name}: {exc}") from None


def _read(data: bytes) -> tuple[OrderedDict, dict[str, np.ndarray]]:
    """The state dict of tensor references, and each storage's elements (checked, not viewed)."""
    stream = io.BytesIO(data)  # shares ``data``, no copy
    try:
        magic = _unpickle(stream, _PlainUnpickler)
        if magic != MAGIC_NUMBER:
            raise TorchFileError("not a legacy PyTorch file (bad magic number)")
        proto = _unpickle(stream, _PlainUnpickler)
        if proto != PROTOCOL_VERSION:
            raise TorchFileError(f"unsupported protocol version {_show(proto)}")
        info = _unpickle(stream, _PlainUnpickler)
        if not (isinstance(info, dict) and info.get("little_endian") is True):
            raise TorchFileError("only little-endian files are supported")
        obj = _unpickle(stream, _RestrictedUnpickler)
        keys = _unpickle(stream, _PlainUnpickler)
    except _PICKLE_ERRORS as exc:
        raise TorchFileError(f"not a readable legacy PyTorch file ({_clip(str(exc), 120)})") from None
    if not isinstance(obj, OrderedDict) or not isinstance(keys, list):
        raise TorchFileError("expected a state dict")
    refs: dict[str, _StorageRef] = {}
    for name, t in obj.items():
        if not isinstance(t, _TensorRef):
            raise TorchFileError(f"entry {_show(name)} is not a tensor")
        first = refs.setdefault(t.storage.key, t.storage)
        if first.stype is not t.storage.stype or first.numel != t.storage.numel:
            raise TorchFileError(f"storage {_show(first.key)} is declared with two different types or sizes")
    storages: dict[str, np.ndarray] = {}
    pos = stream.tell()
    for key in keys:
        if not isinstance(key, str):
            raise TorchFileError(f"storage key {_show(key)} is not a string")
        ref = refs.get(key)
        if ref is None:
            raise TorchFileError(f"storage {_show(key)} is not referenced")
        if key in storages:
            raise TorchFileError(f"storage {_show(key)} is listed twice")
        if len(data) - pos < 8:
            raise TorchFileError(f"file is truncated (no element count for storage {_show(key)})")
        numel = int.from_bytes(data[pos : pos + 8], "little", signed=True)
        pos += 8
        if numel != ref.numel:
            raise TorchFileError(f"storage {_show(key)} size mismatch ({numel} elements, {_show(ref.numel)} declared)")
        dtype = _STORAGE_DTYPES[ref.stype.name]
        nbytes = numel * dtype.itemsize
        if nbytes > len(data) - pos:
            raise TorchFileError(f"file is truncated (storage {_show(key)} needs {nbytes} bytes)")
        storages[key] = np.frombuffer(data, dtype=dtype, count=numel, offset=pos)
        pos += nbytes
    return obj, storages


def _tensor_arrays(obj: OrderedDict, storages: dict[str, np.ndarray], file_size: int) -> OrderedDict[str, np.ndarray]:
    """Copy each tensor out of its storage, after checking that it lies inside it."""
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    budget = _MAX_OUTPUT_FACTOR * file_size + _OUTPUT_MARGIN
    for name, t in obj.items():
        label = f"tensor {_show(name)}"
        data = storages.get(t.storage.key)
        if data is None:
            raise TorchFileError(f"{label}: its storage {_show(t.storage.key)} is not in the file")
        offset, size, stride = _check_layout(t, len(data), label)
        nbytes = math.prod(size) * data.itemsize
        budget -= nbytes
        if budget < 0:
            raise TorchFileError(f"{label}: {_show(nbytes)} bytes is too large for a file of {file_size} bytes")
        try:
            if 0 in size:
                out[name] = np.empty(size, dtype=data.dtype)
                continue
            item = data.itemsize
            arr = np.lib.stride_tricks.as_strided(data[offset:], shape=size, strides=tuple(s * item for s in stride))
            out[name] = np.array(arr)  # a copy that owns its memory
        except (ValueError, MemoryError) as exc:
            raise TorchFileError(f"{label}: cannot be read ({_clip(str(exc), 120)})") from None
    return out


def _check_layout(t: _TensorRef, numel: int, label: str) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The tensor's offset, sizes and strides, once they are known to address only its storage."""
    offset, size, stride = t.offset, t.size, t.stride
    if not _is_int(offset) or offset < 0:
        raise TorchFileError(f"{label}: storage offset {_show(offset)} is not a non-negative integer")
    for what, dims in (("sizes", size), ("strides", stride)):
        if not isinstance(dims, tuple | list) or not all(_is_int(d) and d >= 0 for d in dims):
            raise TorchFileError(f"{label}: {what} {_show(dims)} are not non-negative integers")
    if len(size) != len(stride):
        raise TorchFileError(f"{label}: {len(size)} sizes but {len(stride)} strides")
    if len(size) > _MAX_DIMS:
        raise TorchFileError(f"{label}: {len(size)} dimensions (at most {_MAX_DIMS} are supported)")
    size, stride = tuple(size), tuple(stride)
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= numel:
            raise TorchFileError(
                f"{label}: offset {_show(offset)}, sizes {_show(size)} and strides {_show(stride)} "
                f"reach element {_show(last, 40)} of a storage of {numel}"
            )
    return offset, size, stride
