"""Tests of symest.pth.read_pth: real-PyTorch fixtures, hostile files, round trips, fuzzing.

The fixtures in tests/fixtures/ were written by scripts/make_pth_fixtures.py with real torch;
torch is not needed here. In-process checkpoints are built with a tiny pickle-opcode emitter
that mimics what torch.save writes (protocol 2, persistent ids, <prefix>/data/<key> entries).
"""

from __future__ import annotations

import io
import pickletools
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from symest._errors import CheckpointError
from symest.pth import ALLOWED_GLOBALS, read_pth

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PWNED = Path("/tmp/symest_pwned")
EXPECTED_KEYS = {
    "rnn_2nd_argmax_4_3": {
        "rnn.weight_ih_l0": (4, 1),
        "rnn.weight_hh_l0": (4, 4),
        "linear.weight": (3, 4),
    },
    "rnn_median_2_3": {
        "rnn.weight_ih_l0": (2, 1),
        "rnn.weight_hh_l0": (2, 2),
        "linear.weight": (1, 2),
    },
    "rnn_bias_2nd_argmax_3_3": {
        "rnn.weight_ih_l0": (3, 1),
        "rnn.weight_hh_l0": (3, 3),
        "rnn.bias_ih_l0": (3,),
        "rnn.bias_hh_l0": (3,),
        "linear.weight": (3, 3),
        "linear.bias": (3,),
    },
    "transformer_longest_cycle_4_4": {
        "embed.weight": (4, 4),
        "pos_embed.weight": (4, 4),
        "attns.0.in_proj_weight": (12, 4),
        "attns.0.out_proj.weight": (4, 4),
        "attns.1.in_proj_weight": (12, 4),
        "attns.1.out_proj.weight": (4, 4),
        "unembed.weight": (4, 4),
    },
}


def _one_line_error(path: Any) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        read_pth(path)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message
    return info.value


# ---------------------------------------------------------------- fixtures made by real torch


@pytest.mark.parametrize("name", sorted(EXPECTED_KEYS))
def test_fixture_matches_torch(name: str) -> None:
    ref = np.load(FIXTURES / "reference_outputs.npz")
    tensors = read_pth(FIXTURES / f"{name}.pth")
    assert list(tensors) == list(EXPECTED_KEYS[name])  # state_dict order is kept
    for key, shape in EXPECTED_KEYS[name].items():
        arr = tensors[key]
        assert arr.shape == shape and arr.dtype == np.float32
        assert arr.flags.c_contiguous and arr.flags.owndata and arr.flags.writeable
        np.testing.assert_array_equal(arr, ref[f"{name}/{key}"])


def test_accepts_str_path_too() -> None:
    tensors = read_pth(str(FIXTURES / "rnn_median_2_3.pth"))
    assert set(tensors) == set(EXPECTED_KEYS["rnn_median_2_3"])


@pytest.mark.parametrize(("name", "forbidden"), [("hostile", "posix.system"), ("hostile_builtin", "builtins.eval")])
def test_hostile_fixture_is_refused_and_not_run(name: str, forbidden: str) -> None:
    path = FIXTURES / f"{name}.pth"
    with zipfile.ZipFile(path) as zf:  # the fixture really is hostile (checked statically)
        ops = [(op.name, arg) for op, arg, _ in pickletools.genops(zf.read(f"{name}/data.pkl"))]
    assert ("GLOBAL", forbidden.replace(".", " ")) in ops or ("STACK_GLOBAL", None) in ops
    PWNED.unlink(missing_ok=True)
    err = _one_line_error(path)
    assert forbidden in str(err) and "refusing to load" in str(err)
    assert not PWNED.exists()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("truncated.pth", "truncated"),
        ("not_a_zip.pth", "not a PyTorch checkpoint"),
        ("legacy.pth", "legacy"),
        ("does_not_exist.pth", "no such file"),
    ],
)
def test_bad_files_give_one_line_errors(name: str, words: str) -> None:
    err = _one_line_error(FIXTURES / name)
    assert words in str(err) and name in str(err)


def test_directory_and_empty_file(tmp_path: Path) -> None:
    assert "directory" in str(_one_line_error(tmp_path))
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    _one_line_error(empty)


def test_allowed_globals_are_only_rebuild_machinery() -> None:
    for name in ALLOWED_GLOBALS:
        assert name == "collections.OrderedDict" or name.startswith("torch."), name


# ---------------------------------------------------------------- an emitter mimicking torch.save


@dataclass
class Global:
    module: str
    name: str


@dataclass
class Call:
    func: Any
    args: tuple[Any, ...]


@dataclass
class Tensor:
    """A tensor saved as a strided view into storage ``key`` (which holds ``storage``)."""

    storage: np.ndarray  # 1-D, the whole storage
    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


_STORAGE_NAMES = {
    np.dtype("f4"): "FloatStorage",
    np.dtype("f8"): "DoubleStorage",
    np.dtype("f2"): "HalfStorage",
    np.dtype("i8"): "LongStorage",
    np.dtype("i4"): "IntStorage",
    np.dtype("u1"): "ByteStorage",
    np.dtype("bool"): "BoolStorage",
}


def _emit(obj: Any, out: bytearray, storages: dict[str, np.ndarray]) -> None:
    if isinstance(obj, dict):
        out += b"ccollections\nOrderedDict\n)R("  # OrderedDict(), MARK
        for key, value in obj.items():
            _emit(key, out, storages)
            _emit(value, out, storages)
        out += b"u"
    elif isinstance(obj, bool):
        out += b"\x88" if obj else b"\x89"
    elif isinstance(obj, int):
        out += b"J" + struct.pack("<i", obj) if -(2**31) <= obj < 2**31 else pickle_long(obj)
    elif isinstance(obj, str):
        raw = obj.encode("utf-8", "surrogatepass")
        out += b"X" + struct.pack("<I", len(raw)) + raw
    elif isinstance(obj, tuple):
        out += b"("
        for item in obj:
            _emit(item, out, storages)
        out += b"t"
    elif isinstance(obj, Global):
        out += f"c{obj.module}\n{obj.name}\n".encode()
    elif isinstance(obj, Call):
        _emit(obj.func, out, storages)
        _emit(obj.args, out, storages)
        out += b"R"
    elif isinstance(obj, Tensor):
        storages[obj.key] = obj.storage
        stype = Global("torch", _STORAGE_NAMES[obj.storage.dtype])
        _emit(Global("torch._utils", "_rebuild_tensor_v2"), out, storages)
        out += b"("
        _emit(("storage", stype, obj.key, "cpu", obj.storage.size), out, storages)
        out += b"Q"  # BINPERSID
        for arg in (obj.offset, obj.shape, obj.stride, False, {}):
            _emit(arg, out, storages)
        out += b"tR"
    else:
        raise TypeError(type(obj))


def pickle_long(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def make_pth(obj: Any, big_endian: bool = False, prefix: str = "archive") -> bytes:
    out = bytearray(b"\x80\x02")
    storages: dict[str, np.ndarray] = {}
    _emit(obj, out, storages)
    out += b"."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", bytes(out))
        zf.writestr(f"{prefix}/byteorder", "big" if big_endian else "little")
        for key, arr in storages.items():
            order = ">" if big_endian else "<"
            zf.writestr(f"{prefix}/data/{key}", arr.astype(arr.dtype.newbyteorder(order)).tobytes())
        zf.writestr(f"{prefix}/version", "3\n")
    return buf.getvalue()


def read_bytes(data: bytes) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pth"
        path.write_bytes(data)
        return read_pth(path)


def tensor_of(arr: np.ndarray, key: str, offset: int = 0, fortran: bool = False) -> Tensor:
    """Lay ``arr`` out in a storage with ``offset`` junk items first, C or Fortran order."""
    flat = arr.ravel(order="F" if fortran else "C")
    storage = np.concatenate([np.zeros(offset, arr.dtype), flat])
    if fortran:
        stride = tuple(int(np.prod(arr.shape[:i])) for i in range(arr.ndim))
    else:
        stride = tuple(int(np.prod(arr.shape[i + 1 :])) for i in range(arr.ndim))
    return Tensor(storage, key, offset, arr.shape, stride)


def bad_message(data: bytes) -> str:
    with pytest.raises(CheckpointError) as info:
        read_bytes(data)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- in-process checkpoints

SMALL_F32 = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrays=st.lists(SMALL_F32, min_size=1, max_size=4),
    names=st.lists(st.text(min_size=1, max_size=12), min_size=4, max_size=4, unique=True),
    offsets=st.lists(st.integers(0, 3), min_size=4, max_size=4),
    fortran=st.lists(st.booleans(), min_size=4, max_size=4),
    big_endian=st.booleans(),
)
def test_round_trip_float32(
    arrays: list[np.ndarray],
    names: list[str],
    offsets: list[int],
    fortran: list[bool],
    big_endian: bool,
) -> None:
    state = {names[i]: tensor_of(arr, str(i), offsets[i], fortran[i]) for i, arr in enumerate(arrays)}
    got = read_bytes(make_pth(state, big_endian=big_endian))
    assert list(got) == names[: len(arrays)]
    for name, arr in zip(names[: len(arrays)], arrays, strict=True):
        assert got[name].dtype == np.float32 and got[name].dtype.isnative
        assert got[name].shape == arr.shape and got[name].flags.c_contiguous
        np.testing.assert_array_equal(got[name].view(np.uint32), arr.view(np.uint32))


@pytest.mark.parametrize("dtype", ["f8", "f2", "i8", "i4", "u1", "bool"])
@pytest.mark.parametrize("big_endian", [False, True])
def test_round_trip_other_dtypes(dtype: str, big_endian: bool) -> None:
    arr = (np.arange(12) % 5).reshape(3, 4).astype(dtype)
    got = read_bytes(make_pth({"w": tensor_of(arr, "0", 2, fortran=True)}, big_endian))
    assert got["w"].dtype == np.dtype(dtype) and got["w"].dtype.isnative
    np.testing.assert_array_equal(got["w"], arr)


def test_shared_storage_views_and_parameter_wrapper() -> None:
    storage = np.arange(10, dtype=np.float32)
    view = Tensor(storage, "s", 2, (2, 3), (1, 2))  # a transposed view into a shared storage
    param = Call(
        Global("torch._utils", "_rebuild_parameter"),
        (Tensor(storage, "s", 0, (10,), (1,)), True, {}),
    )
    got = read_bytes(make_pth({"view": view, "param": param}))
    np.testing.assert_array_equal(got["view"], [[2, 4, 6], [3, 5, 7]])
    np.testing.assert_array_equal(got["param"], storage)
    got["view"][0, 0] = -1  # results are independent copies
    assert got["param"][2] == 2


def test_bfloat16_is_widened_exactly() -> None:
    values = np.array([1.0, -2.5, 3.140625], np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    state = {"w": Tensor(bits, "0", 0, (3,), (1,))}
    _STORAGE_NAMES[np.dtype("u2")] = "BFloat16Storage"  # bfloat16 bits travel as 2-byte items
    try:
        pth = make_pth(state)
    finally:
        del _STORAGE_NAMES[np.dtype("u2")]
    got = read_bytes(pth)
    assert got["w"].dtype == np.float32
    np.testing.assert_array_equal(got["w"], values)


def test_wrapped_state_dict_is_accepted() -> None:
    inner = {"linear.weight": tensor_of(np.ones((2, 3), np.float32), "0")}
    got = read_bytes(make_pth({"epoch": 3, "state_dict": inner, "note": "best"}))
    assert list(got) == ["linear.weight"]


@pytest.mark.parametrize(
    ("obj", "words"),
    [
        ({"w": tensor_of(np.ones(2, np.float32), "0"), "step": 5}, "not a tensor"),
        ({}, "empty"),
        ((1, 2), "not a state_dict"),
        ({"w": Call(Global("os", "system"), ("true",))}, "os.system"),
        ({"w": Call(Global("torch", "load"), ("x",))}, "torch.load"),
        ({"w": Call(Global("numpy.core.multiarray", "scalar"), ())}, "numpy.core"),
        (
            {"w": Call(Global("torch._utils", "_rebuild_tensor_v2"), ("x", 0, (1,), (1,)))},
            "storage",
        ),
        ({"w": Call(Global("torch", "FloatStorage"), ())}, "corrupt"),
        ({"w": Tensor(np.ones(4, np.float32), "0", 2, (3,), (1,))}, "past the end"),
        ({"w": Tensor(np.ones(4, np.float32), "0", 0, (10**12,), (0,))}, "larger than"),
        ({"w": Tensor(np.ones(4, np.float32), "0", 0, (2, 2), (1,))}, "stride"),
        ({"w": Tensor(np.ones(4, np.float32), "0", -1, (2,), (1,))}, "offset"),
    ],
)
def test_bad_content_is_refused(obj: Any, words: str) -> None:
    assert words in bad_message(make_pth(obj))


def test_missing_or_short_storage_entry() -> None:
    good = make_pth({"w": tensor_of(np.ones((4, 4), np.float32), "0")})
    entries = _entries(good)
    del entries["archive/data/0"]
    assert "missing" in bad_message(_zip(entries))
    entries = _entries(good)
    entries["archive/data/0"] = entries["archive/data/0"][:20]
    assert "truncated" in bad_message(_zip(entries))
    entries = _entries(good)
    del entries["archive/data.pkl"]
    assert "data.pkl" in bad_message(_zip(entries))


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------------- fuzzing: only CheckpointError

GOOD = (FIXTURES / "transformer_longest_cycle_4_4.pth").read_bytes()
GOOD_ENTRIES = _entries(GOOD)
GOOD_PKL_NAME = next(name for name in GOOD_ENTRIES if name.endswith("/data.pkl"))


def _with_pickle(data_pkl: bytes) -> bytes:
    entries = dict(GOOD_ENTRIES)
    entries[GOOD_PKL_NAME] = data_pkl
    return _zip(entries)


@pytest.mark.parametrize(
    ("data_pkl", "words"),
    [
        (b"\x80\x02}r\xff\xff\xff\x7f.", "memo slot"),  # LONG_BINPUT 2**31-1: a memory bomb in C
        (b"\x80\x05\x96\x03\x00\x00\x00\x00\x00\x00\x00abc\x98.", "BYTEARRAY8"),
        (b"\x80\x02(cposix\nsystem\nX\x04\x00\x00\x00trueo.", "OBJ"),
        (b"\x80\x02\x82\x01.", "EXT1"),
        (b"\x80\x02\xff.", "unknown"),
    ],
)
def test_suspicious_opcodes_are_refused_before_unpickling(data_pkl: bytes, words: str) -> None:
    assert words in bad_message(_with_pickle(data_pkl))


def _only_checkpoint_errors(data: bytes) -> None:
    try:
        result = read_bytes(data)
    except CheckpointError as err:
        assert "\n" not in str(err)
    else:
        assert all(isinstance(v, np.ndarray) for v in result.values())


mutations = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8)


def _mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    buf = bytearray(data)
    for position, value in flips:
        buf[position % len(buf)] = value
    return bytes(buf[:cut] if cut is not None else buf)


@settings(max_examples=250, deadline=None)
@given(flips=mutations, cut=st.none() | st.integers(0, len(GOOD)))
def test_fuzz_whole_file(flips: list[tuple[int, int]], cut: int | None) -> None:
    _only_checkpoint_errors(_mutate(GOOD, flips, cut))


@settings(max_examples=250, deadline=None)
@given(flips=mutations, cut=st.none() | st.integers(0, len(GOOD_ENTRIES[GOOD_PKL_NAME])))
def test_fuzz_pickle_with_valid_zip(flips: list[tuple[int, int]], cut: int | None) -> None:
    # the zip's CRCs stay valid, so the mangled pickle really reaches the unpickler
    _only_checkpoint_errors(_with_pickle(_mutate(GOOD_ENTRIES[GOOD_PKL_NAME], flips, cut)))
