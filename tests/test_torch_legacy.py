"""The legacy-PyTorch weights reader on hand-made files: valid ones load, crafted ones fail cleanly.

No torch here: the state-dict pickle is written opcode by opcode (GLOBAL for ``torch.FloatStorage``
and ``torch._utils._rebuild_tensor_v2``, BINPERSID for storage references), the rest with pickle.
"""

import pickle
import pickletools
import random
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from landgui.core.models.torch_legacy import MAGIC_NUMBER, TorchFileError, load_state_dict


@dataclass
class _Global:
    module: str
    name: str


@dataclass
class _Call:
    fn: Any
    args: tuple


@dataclass
class _PersId:
    pid: tuple


@dataclass
class _Build:
    obj: Any
    state: Any


@dataclass(frozen=True)
class _Raw:
    """Opcodes written as they are."""

    ops: bytes


def _ops(value: Any) -> bytes:
    """Pickle opcodes (protocol 2) that rebuild ``value``."""
    if isinstance(value, _Global):
        return b"c" + f"{value.module}\n{value.name}\n".encode()
    if isinstance(value, _Call):
        return _ops(value.fn) + _ops(tuple(value.args)) + pickle.REDUCE
    if isinstance(value, _PersId):
        return _ops(value.pid) + pickle.BINPERSID
    if isinstance(value, _Build):
        return _ops(value.obj) + _ops(value.state) + pickle.BUILD
    if isinstance(value, _Raw):
        return value.ops
    if isinstance(value, dict):  # an OrderedDict, as torch writes a state dict
        items = b"".join(_ops(k) + _ops(v) for k, v in value.items())
        return _ops(_Call(_Global("collections", "OrderedDict"), ())) + pickle.MARK + items + pickle.SETITEMS
    if isinstance(value, tuple):
        return pickle.MARK + b"".join(_ops(v) for v in value) + pickle.TUPLE
    if isinstance(value, list):
        return pickle.EMPTY_LIST + (pickle.MARK + b"".join(_ops(v) for v in value) + pickle.APPENDS if value else b"")
    return pickletools.optimize(pickle.dumps(value, protocol=2))[2:-1]  # plain data, no PUT: strip PROTO and STOP


def _tensor(
    key: Any = "0", offset: Any = 0, size: Any = (12,), stride: Any = (1,), numel: Any = 12, storage="FloatStorage"
):
    """What ``torch.save`` writes for one tensor: a call to ``_rebuild_tensor_v2`` on a storage reference."""
    pid = ("storage", _Global("torch", storage), key, "cpu", numel, None)
    hooks = _Call(_Global("collections", "OrderedDict"), ())
    return _Call(_Global("torch._utils", "_rebuild_tensor_v2"), (_PersId(pid), offset, size, stride, False, hooks))


def _storage(values: np.ndarray) -> bytes:
    return struct.pack("<q", values.size) + values.tobytes()


STORAGE_0 = np.arange(12, dtype="<f4") * 1.5


def _legacy_bytes(entries: dict, keys: list | None = None, tail: bytes | None = None) -> bytes:
    """A whole legacy file; by default its one storage "0" holds :data:`STORAGE_0`."""
    header = b"".join(
        pickle.dumps(h, protocol=2)
        for h in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True, "type_sizes": {}})
    )
    keys = ["0"] if keys is None else keys
    tail = _storage(STORAGE_0) if tail is None else tail
    return header + b"\x80\x02" + _ops(entries) + b"." + pickle.dumps(keys, protocol=2) + tail


def _write(tmp_path, data: bytes, name: str = "crafted.pth"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _valid_file() -> bytes:
    longs = np.array([7], dtype="<i8")
    doubles = np.array([0.25, -2.0], dtype="<f8")
    entries = {
        "w": _tensor(size=(3, 4), stride=(4, 1)),
        "w.T": _tensor(size=(4, 3), stride=(1, 4)),  # a transposed view of the same storage
        "row": _tensor(offset=4, size=(4,), stride=(1,)),
        "every_other": _tensor(offset=1, size=(2, 3), stride=(6, 2)),
        "tied": _tensor(size=(3, 4), stride=(4, 1)),
        "count": _tensor(key="1", size=(), stride=(), numel=1, storage="LongStorage"),
        "pair": _tensor(key="2", size=(2,), stride=(1,), numel=2, storage="DoubleStorage"),
        "empty": _tensor(key="3", size=(0, 5), stride=(5, 1), numel=0),
        "empty_far": _tensor(offset=99, size=(2, 0), stride=(1, 1)),  # torch allows any offset here
    }
    tail = _storage(STORAGE_0) + _storage(longs) + _storage(doubles) + _storage(np.zeros(0, "<f4"))
    return _legacy_bytes(entries, keys=["0", "1", "2", "3"], tail=tail)


def test_valid_file_round_trip(tmp_path):
    sd = load_state_dict(_write(tmp_path, _valid_file(), "valid.pth"))
    w = STORAGE_0.reshape(3, 4)
    assert list(sd) == ["w", "w.T", "row", "every_other", "tied", "count", "pair", "empty", "empty_far"]
    np.testing.assert_array_equal(sd["w"], w)
    np.testing.assert_array_equal(sd["w.T"], w.T)
    np.testing.assert_array_equal(sd["row"], w[1])
    np.testing.assert_array_equal(sd["every_other"], [[1.5, 4.5, 7.5], [10.5, 13.5, 16.5]])
    assert sd["w"].dtype == np.float32 and sd["w.T"].shape == (4, 3)
    assert sd["count"].shape == () and sd["count"].dtype == np.int64 and int(sd["count"]) == 7
    assert sd["pair"].dtype == np.float64 and list(sd["pair"]) == [0.25, -2.0]
    assert sd["empty"].shape == (0, 5) and sd["empty"].dtype == np.float32
    assert sd["empty_far"].shape == (2, 0)
    sd["w"][0, 0] = 100.0  # each array is its own writable copy
    assert sd["tied"][0, 0] == 0.0 and sd["w.T"][0, 0] == 0.0


BAD_LAYOUTS = {
    "offset-beyond-storage": (dict(offset=12, size=(1,)), "reach element 12 of a storage of 12"),
    "offset-plus-size-beyond": (dict(offset=10, size=(4,)), "reach element 13 of a storage of 12"),
    "size-times-stride-beyond": (dict(size=(3, 4), stride=(100, 1)), "reach element 203 of a storage of 12"),
    "huge-stride": (dict(size=(2,), stride=(2**62,)), "reach element 4611686018427387904"),
    "huge-size": (dict(size=(2**62,)), "reach element 4611686018427387903"),
    "negative-stride": (dict(offset=11, stride=(-1,)), r"strides \(-1,\) are not non-negative"),
    "negative-offset": (dict(offset=-4, size=(4,)), "storage offset -4 is not a non-negative integer"),
    "negative-size": (dict(size=(-1,)), r"sizes \(-1,\) are not non-negative"),
    "mismatched-lengths": (dict(size=(3, 4), stride=(1,)), "2 sizes but 1 strides"),
    "float-size": (dict(size=(3.0, 4), stride=(4, 1)), r"sizes \(3.0, 4\) are not"),
    "string-size": (dict(size="12"), "sizes '12' are not"),
    "bool-size": (dict(size=(True,)), r"sizes \(True,\) are not"),
    "none-stride": (dict(stride=(None,)), r"strides \(None,\) are not"),
    "string-offset": (dict(offset="0"), "storage offset '0' is not"),
    "too-many-dims": (dict(size=(1,) * 40, stride=(1,) * 40), "40 dimensions"),
    "broadcast-bomb": (dict(size=(2**40,), stride=(0,)), "bytes is too large for a file of"),
    "zero-size-huge-dim": (dict(size=(0, 2**62), stride=(1, 1)), "cannot be read"),
}


@pytest.mark.parametrize("case", BAD_LAYOUTS, ids=list(BAD_LAYOUTS))
def test_tensor_outside_its_storage_is_refused(tmp_path, case):
    layout, message = BAD_LAYOUTS[case]
    path = _write(tmp_path, _legacy_bytes({"ok": _tensor(), "bad": _tensor(**layout)}))
    with pytest.raises(TorchFileError, match=rf"^crafted\.pth: tensor 'bad': .*{message}") as err:
        load_state_dict(path)
    assert "\n" not in str(err.value)


def _bytes_case(entries=None, **kw) -> bytes:
    return _legacy_bytes({"w": _tensor()} if entries is None else entries, **kw)


BAD_FILES = {
    "numel-2**62-in-persistent-id-and-count": (
        lambda: _bytes_case({"w": _tensor(numel=2**62)}, tail=struct.pack("<q", 2**62) + STORAGE_0.tobytes()),
        r"file is truncated \(storage '0' needs 18446744073709551616 bytes\)",
    ),
    "numel-2**62-in-count": (
        lambda: _bytes_case(tail=struct.pack("<q", 2**62) + STORAGE_0.tobytes()),
        "storage '0' size mismatch",
    ),
    "negative-count": (lambda: _bytes_case(tail=struct.pack("<q", -1)), "storage '0' size mismatch"),
    "negative-numel-in-persistent-id": (
        lambda: _bytes_case({"w": _tensor(numel=-1)}),
        "storage '0': element count -1 is not a non-negative integer",
    ),
    "string-numel-in-persistent-id": (lambda: _bytes_case({"w": _tensor(numel="12")}), "element count '12'"),
    "float-numel-in-persistent-id": (lambda: _bytes_case({"w": _tensor(numel=12.0)}), "element count 12.0"),
    "float-storage-key": (lambda: _bytes_case({"w": _tensor(key=0.5)}), "storage key 0.5 is not a string"),
    "storage-view": (
        lambda: _bytes_case(
            {
                "w": _Call(
                    _Global("torch._utils", "_rebuild_tensor_v2"),
                    (
                        _PersId(("storage", _Global("torch", "FloatStorage"), "0", "cpu", 12, ("1", 0, 4))),
                        0,
                        (4,),
                        (1,),
                    ),
                )
            }
        ),
        "storage views are not supported",
    ),
    "storage-missing-from-keys": (
        lambda: _bytes_case(keys=[], tail=b""),
        "tensor 'w': its storage '0' is not in the file",
    ),
    "storage-listed-twice": (
        lambda: _bytes_case(keys=["0", "0"], tail=_storage(STORAGE_0) * 2),
        "storage '0' is listed twice",
    ),
    "unreferenced-storage": (
        lambda: _bytes_case(keys=["0", "1"], tail=_storage(STORAGE_0) * 2),
        "storage '1' is not referenced",
    ),
    "one-key-two-types": (
        lambda: _bytes_case({"w": _tensor(), "d": _tensor(storage="DoubleStorage")}),
        "storage '0' is declared with two different types or sizes",
    ),
    "one-key-two-sizes": (
        lambda: _bytes_case({"w": _tensor(), "d": _tensor(numel=2**40)}),
        "storage '0' is declared with two different types or sizes",
    ),
    "unknown-storage-type": (
        lambda: _bytes_case({"w": _tensor(storage="BFloat16Storage")}),
        "refusing to load torch.BFloat16Storage",
    ),
    "non-list-keys": (lambda: _bytes_case(keys={"0": 1}), "expected a state dict"),
    "entry-not-a-tensor": (lambda: _bytes_case({"w": 5}), "entry 'w' is not a tensor"),
    "truncated-count": (lambda: _bytes_case(tail=b"\x0c\x00\x00"), r"truncated \(no element count for storage '0'\)"),
    "truncated-data": (
        lambda: _bytes_case(tail=_storage(STORAGE_0)[:-1]),
        r"truncated \(storage '0' needs 48 bytes\)",
    ),
    "rebuild-without-arguments": (
        lambda: _bytes_case({"w": _Call(_Global("torch._utils", "_rebuild_tensor_v2"), ())}),
        "not a readable legacy PyTorch file",
    ),
    "storage-type-called": (
        lambda: _bytes_case({"w": _Call(_Global("torch", "FloatStorage"), (12,))}),
        "not a readable legacy PyTorch file",
    ),
    "huge-memo-index": (  # LONG_BINPUT 1000000: CPython would allocate and zero a memo of 2M entries
        lambda: _bytes_case(
            {"w": _tensor(), "x": _Raw(pickle.BININT1 + b"\x01" + pickle.LONG_BINPUT + struct.pack("<I", 10**6))}
        ),
        "bad memo index 1000000 in a pickle",
    ),
    "deeply-nested-key": (  # hashing a tuple nested a million deep overflows the C stack
        lambda: _bytes_case({"w": _tensor(), _Raw(pickle.EMPTY_TUPLE + pickle.TUPLE1 * 10**6): _tensor()}),
        "objects nested more than 100 deep in a pickle",
    ),
    "bad-magic": (lambda: pickle.dumps(12345, protocol=2) + b"rest", "bad magic number"),
    "empty-file": (lambda: b"", "not a readable legacy PyTorch file"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_crafted_file_is_refused(tmp_path, case):
    make, message = BAD_FILES[case]
    with pytest.raises(TorchFileError, match=rf"^crafted\.pth: .*{message}") as err:
        load_state_dict(_write(tmp_path, make()))
    assert "\n" not in str(err.value)


def test_file_cannot_change_the_reader(tmp_path):
    """BUILD on the objects the reader hands out is refused, and later files read as before."""
    for target, state in (
        (_Global("torch", "FloatStorage"), (None, {"name": "DoubleStorage"})),
        (_Global("torch", "FloatStorage"), {"name": "DoubleStorage"}),
        (_Global("torch._utils", "_rebuild_tensor_v2"), (None, {"fn": 0})),
        (_Global("collections", "OrderedDict"), {"fn": 0}),
    ):
        path = _write(tmp_path, _bytes_case({"w": _tensor(), "x": _Build(target, state)}))
        with pytest.raises(TorchFileError, match=r"^crafted\.pth: "):
            load_state_dict(path)
    sd = load_state_dict(_write(tmp_path, _valid_file(), "valid.pth"))
    assert sd["w"].dtype == np.float32 and sd["w"][2, 3] == STORAGE_0[11]


def test_missing_file(tmp_path):
    with pytest.raises(TorchFileError, match=r"^absent\.pth: cannot read the file"):
        load_state_dict(tmp_path / "absent.pth")


def test_every_truncation_is_refused(tmp_path):
    data = _valid_file()
    path = tmp_path / "cut.pth"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(TorchFileError, match=r"^cut\.pth: "):
            load_state_dict(path)


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # garbage STRING opcodes
def test_corrupted_bytes_load_or_fail_cleanly(tmp_path):
    """Random byte changes give a TorchFileError (or a file that still reads), never another error."""
    data = _valid_file()
    path = tmp_path / "noisy.pth"
    rng = random.Random(12)
    for _ in range(400):
        noisy = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            noisy[rng.randrange(len(noisy))] = rng.randrange(256)
        path.write_bytes(bytes(noisy))
        try:
            load_state_dict(path)
        except TorchFileError as exc:
            assert "\n" not in str(exc)
