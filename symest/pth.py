"""Read PyTorch ``.pth`` state_dict checkpoints without torch and without running pickled code.

Format. Since torch 1.6, ``torch.save`` writes a zip archive (entries stored uncompressed)
whose entries all sit under one top-level folder ``<prefix>/``:

- ``<prefix>/data.pkl``: a pickle (protocol 2) of the saved object. For a state_dict this is
  a ``collections.OrderedDict`` mapping names to tensors; each tensor is pickled as a call to
  ``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  backward_hooks[, metadata])`` (``_rebuild_tensor_v3`` adds a trailing dtype for dtypes that
  have no legacy ``torch.<Name>Storage`` class, e.g. uint16; ``nn.Parameter`` objects are
  wrapped in ``_rebuild_parameter``). The storage argument is a *persistent id*
  ``("storage", torch.FloatStorage, "<key>", "cpu", numel)``.
- ``<prefix>/data/<key>``: the raw bytes of storage ``<key>`` (numel elements).
- ``<prefix>/byteorder``: ``little`` or ``big`` (absent in old files: little).
- ``<prefix>/version``, ``.format_version``, ``.storage_alignment``, ``.data/serialization_id``:
  ignored here.

A tensor is the strided view ``storage[offset + sum(i_k * stride_k)]`` of shape ``size``.

Security model. Unpickling can call any importable function, so :func:`read_pth` uses a
:class:`pickle.Unpickler` whose ``find_class`` resolves ONLY the globals listed in
``ALLOWED_GLOBALS`` (tensor-rebuild functions, storage classes, dtype names and
``collections.OrderedDict``), each mapped to a small local stand-in that builds NumPy arrays;
nothing from torch is imported. Any other global (``os.system``, ``builtins.eval``, a user
class, a NumPy scalar ...) makes the load fail before it is called. The stand-ins check every
argument (types, bounds against the storage's real length, a size cap), so a malformed file
gives :class:`~symest._errors.CheckpointError` and nothing else. Before unpickling, the
opcodes are scanned (``pickletools.genops``, which only parses): opcodes torch never writes
(protocol-5 buffers, the extension registry, INST/OBJ, text PERSID) are refused, and so are memo
indices beyond the pickle's length, which would make CPython's unpickler allocate a memo table
of that size (a memory bomb from a few bytes). data.pkl is capped at 16 MiB, each storage and
tensor at 1 GiB.

Accepted content: a dict of ``name -> tensor`` at top level, or a dict holding one under the
key ``"state_dict"``, ``"model_state_dict"`` or ``"model"`` (the common training-checkpoint
wrappers; its other entries are ignored, but must still unpickle with the allowed globals).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import zipfile
from typing import Any

import numpy as np

from symest._errors import CheckpointError

__all__ = ["ALLOWED_GLOBALS", "read_pth"]

_MAX_BYTES = 1 << 30  # refuse any single storage or tensor larger than 1 GiB
_MAX_PICKLE_BYTES = 16 << 20  # a state_dict's data.pkl takes ~100 bytes per tensor
_FORBIDDEN_OPCODES = frozenset(
    {"BYTEARRAY8", "NEXT_BUFFER", "READONLY_BUFFER", "EXT1", "EXT2", "EXT4", "INST", "OBJ", "PERSID"}
)
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_LEGACY_MAGIC = b"\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # pickled LONG1 0x1950a86a20f9469cfc6c
_BFLOAT16 = "bfloat16"  # NumPy has no bfloat16: such tensors are widened (exactly) to float32


class _Bad(Exception):
    """Internal: a specific problem in the pickle; becomes a CheckpointError with the path."""


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only records the element dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _DType:
    """Stand-in for a ``torch.<dtype>`` object (argument of ``_rebuild_tensor_v3``)."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _Storage:
    """A storage's raw bytes (exactly numel * itemsize of them) and its element dtype."""

    __slots__ = ("data", "dtype", "order")

    def __init__(self, data: bytes, dtype: str, order: str) -> None:
        self.data = data
        self.dtype = dtype
        self.order = order  # "<" or ">", from the archive's byteorder entry


_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "BFloat16Storage": _BFLOAT16,
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
    "ComplexDoubleStorage": "c16",
    "ComplexFloatStorage": "c8",
}
_TORCH_DTYPES = {
    "float64": "f8",
    "float32": "f4",
    "float16": "f2",
    "bfloat16": _BFLOAT16,
    "int64": "i8",
    "int32": "i4",
    "int16": "i2",
    "int8": "i1",
    "uint8": "u1",
    "uint16": "u2",
    "uint32": "u4",
    "uint64": "u8",
    "bool": "b1",
    "complex128": "c16",
    "complex64": "c8",
}


def _itemsize(dtype: str) -> int:
    return 2 if dtype == _BFLOAT16 else np.dtype(dtype).itemsize


def _as_int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _Bad(f"tensor {what} is {_short(value)}, not a non-negative integer")
    return value


def _as_ints(value: Any, what: str) -> tuple[int, ...]:
    if type(value) is not tuple or len(value) > 32:
        raise _Bad(f"tensor {what} is {_short(value)}, not a tuple of at most 32 integers")
    return tuple(_as_int(v, what) for v in value)


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    if not isinstance(storage, _Storage):
        raise _Bad(f"a tensor's storage is {_short(storage)}, not a storage reference")
    return _rebuild(storage, storage.dtype, storage_offset, size, stride, metadata)


def _rebuild_tensor_v3(
    storage: Any,
    storage_offset: Any,
    size: Any,
    stride: Any,
    requires_grad: Any,
    backward_hooks: Any,
    dtype: Any,
    metadata: Any = None,
) -> np.ndarray:
    if not isinstance(storage, _Storage):
        raise _Bad(f"a tensor's storage is {_short(storage)}, not a storage reference")
    if not isinstance(dtype, _DType):
        raise _Bad(f"a tensor's dtype is {_short(dtype)}, not a torch dtype")
    return _rebuild(storage, dtype.dtype, storage_offset, size, stride, metadata)


def _rebuild(storage: _Storage, dtype: str, offset: Any, size: Any, stride: Any, metadata: Any) -> np.ndarray:
    offset = _as_int(offset, "storage offset")
    shape, strides = _as_ints(size, "size"), _as_ints(stride, "stride")
    if len(shape) != len(strides):
        raise _Bad(f"a tensor has size {shape} but stride {strides}")
    if metadata:
        raise _Bad("a tensor carries conj/neg metadata, which is not supported")
    itemsize = _itemsize(dtype)
    if len(storage.data) % itemsize:
        raise _Bad(f"a storage of {len(storage.data)} bytes does not hold whole {dtype} items")
    numel = 1
    for n in shape:
        numel *= n
    if numel * itemsize > _MAX_BYTES:
        raise _Bad(f"a tensor of shape {shape} is larger than {_MAX_BYTES} bytes")
    storage_numel = len(storage.data) // itemsize
    if numel and offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=True)) >= storage_numel:
        raise _Bad(
            f"a tensor (offset {offset}, size {shape}, stride {strides}) reaches past the end "
            f"of its storage of {storage_numel} items; the file is truncated or corrupt"
        )
    raw = "u2" if dtype == _BFLOAT16 else dtype
    base = np.frombuffer(storage.data, dtype=np.dtype(raw).newbyteorder(storage.order))
    if numel:
        view = np.lib.stride_tricks.as_strided(
            base[offset:], shape=shape, strides=[s * itemsize for s in strides], writeable=False
        )
    else:
        view = np.empty(shape, dtype=base.dtype)
    out = np.array(view, dtype=np.dtype(raw).newbyteorder("="), order="C", copy=True)
    if dtype == _BFLOAT16:
        out = (out.astype(np.uint32) << 16).view(np.float32)
    elif dtype == "b1":
        out = out.view(np.uint8) != 0
    return out


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise _Bad(f"a parameter wraps {_short(data)}, not a tensor")
    return data


def _rebuild_parameter_with_state(data: Any, requires_grad: Any, backward_hooks: Any, state: Any) -> np.ndarray:
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_ALLOWED_OBJECTS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch.storage", "UntypedStorage"): _StorageType("u1"),
    **{("torch", name): _StorageType(dt) for name, dt in _STORAGE_DTYPES.items()},
    **{("torch", name): _DType(dt) for name, dt in _TORCH_DTYPES.items()},
}
#: The only ``module.name`` globals a checkpoint's pickle may reference.
ALLOWED_GLOBALS: tuple[str, ...] = tuple(f"{m}.{n}" for m, n in _ALLOWED_OBJECTS)


def _clean(text: str, limit: int = 120) -> str:
    """Untrusted text made printable (one line) and bounded, for error messages."""
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any) -> str:
    """A one-line, bounded description of an untrusted value for error messages."""
    simple = (str, bool, float, type(None))
    if isinstance(value, str):
        return f"'{_clean(value, 60)}'"
    if isinstance(value, int) and value.bit_length() > 64:
        return "a very large integer"
    if isinstance(value, (*simple, int)) or (
        type(value) is tuple
        and len(value) <= 8
        and all(isinstance(v, simple) or (isinstance(v, int) and v.bit_length() <= 64) for v in value)
    ):
        return _clean(repr(value), 60)
    return f"a {_clean(type(value).__name__.lstrip('_'), 40)}"


def _check_opcodes(data: bytes) -> None:
    """Parse (never run) the pickle; refuse opcodes torch does not write and huge memo indices."""
    for opcode, arg, _pos in pickletools.genops(data):
        if opcode.name in _FORBIDDEN_OPCODES:
            raise _Bad(f"refusing to load: its pickle uses the {opcode.name} opcode, which torch.save never writes")
        if opcode.name in _MEMO_PUTS and not (type(arg) is int and 0 <= arg < len(data)):
            raise _Bad(f"its pickle stores to memo slot {_short(arg)}, out of range; the file is corrupt")


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str, big_endian: bool) -> None:
        super().__init__(io.BytesIO(data))
        self._zf, self._prefix, self._big = zf, prefix, big_endian
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_OBJECTS[(module, name)]
        except KeyError:
            raise _Bad(
                f"refusing to load: its pickle calls {_clean(f'{module}.{name}', 80)}, which is "
                "not a tensor-rebuild function; only plain state_dict checkpoints are supported"
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        if not (type(pid) is tuple and len(pid) == 5 and pid[0] == "storage"):
            raise _Bad(f"unexpected persistent id {_short(pid)}; expected a tensor storage")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType) or type(key) is not str:
            raise _Bad(f"malformed storage reference {_short(pid)}")
        numel = _as_int(numel, "storage size")
        if key in self._storages:
            return self._storages[key]
        nbytes = numel * _itemsize(stype.dtype)
        name = f"{self._prefix}/data/{key}"
        try:
            info = self._zf.getinfo(name)
        except KeyError:
            raise _Bad(f"storage entry {_short(name)} is missing; the file is truncated or corrupt") from None
        if nbytes > _MAX_BYTES or info.file_size < nbytes:
            raise _Bad(
                f"storage entry {_short(name)} holds {info.file_size} bytes but {nbytes} are "
                "needed; the file is truncated or corrupt"
            )
        with self._zf.open(info) as f:
            data = f.read(nbytes)
        if len(data) != nbytes:
            raise _Bad(f"storage entry {_short(name)} is shorter than {nbytes} bytes")
        storage = _Storage(data, stype.dtype, ">" if self._big else "<")
        self._storages[key] = storage
        return storage


def _find_prefix(zf: zipfile.ZipFile) -> str:
    for name in zf.namelist():
        head, _, tail = name.partition("/")
        if head and tail == "data.pkl":
            return head
    raise _Bad(
        "the zip archive has no <folder>/data.pkl entry, so it was not written by "
        "torch.save; re-save the state_dict with torch.save(model.state_dict(), path)"
    )


def _extract_state_dict(obj: Any) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise _Bad(
            f"it holds {_short(obj)}, not a state_dict (a dict of name -> tensor); save model.state_dict() instead"
        )
    if not all(isinstance(v, np.ndarray) for v in obj.values()):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, dict):
                obj = inner
                break
    if not obj:
        raise _Bad("its state_dict is empty; save model.state_dict() of a trained model")
    for key, value in obj.items():
        if type(key) is not str:
            raise _Bad(f"state_dict key {_short(key)} is not a string")
        if not isinstance(value, np.ndarray):
            raise _Bad(
                f"entry {_short(key)} is {_short(value)}, not a tensor; only plain "
                "state_dict checkpoints (name -> tensor) are supported"
            )
    return dict(obj)


def _open_error(label: str, head: bytes) -> str:
    if head.startswith(b"PK"):
        return f"{label}: truncated or corrupt zip archive; re-download or re-save it"
    if head.startswith(b"\x80") and _LEGACY_MAGIC in head[:32]:
        return (
            f"{label}: legacy (pre-1.6) torch.save format; load it with torch and re-save "
            "it with a torch >= 1.6 (torch.save(obj, path), the default "
            "_use_new_zipfile_serialization=True)"
        )
    return (
        f"{label}: not a PyTorch checkpoint (expected the zip archive torch.save writes "
        "since torch 1.6); if it came from an older torch or "
        "_use_new_zipfile_serialization=False, re-save it with a newer torch"
    )


def read_pth(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Return the tensors of a ``torch.save``d state_dict as C-contiguous NumPy arrays.

    Keys are the state_dict names in file order; dtypes are as stored (bfloat16 is widened to
    float32). Raises :class:`CheckpointError` with a one-line message for a missing, unreadable,
    truncated, legacy-format, hostile or non-state_dict file; runs no pickled code.
    """
    label = _clean(os.fsdecode(path), 200)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        raise CheckpointError(f"{label}: no such file; check the checkpoint path") from None
    except IsADirectoryError:
        raise CheckpointError(f"{label}: is a directory, not a checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{label}: cannot read the file ({e.strerror or e})") from None
    try:
        zf = zipfile.ZipFile(path)
    except Exception:  # BadZipFile, or anything else a mangled archive raises
        raise CheckpointError(_open_error(label, head)) from None
    try:
        with zf:
            prefix = _find_prefix(zf)
            info = zf.getinfo(f"{prefix}/data.pkl")
            if info.file_size > _MAX_PICKLE_BYTES:
                raise _Bad(f"its data.pkl holds {info.file_size} bytes, too many for a state_dict")
            pickled = zf.read(info)
            _check_opcodes(pickled)
            order = f"{prefix}/byteorder"
            byteorder = zf.read(order).strip() if order in zf.namelist() else b"little"
            if byteorder not in (b"little", b"big"):
                raise _Bad(f"unknown byteorder {_short(byteorder)} (expected little or big)")
            obj = _SafeUnpickler(pickled, zf, prefix, byteorder == b"big").load()
            return _extract_state_dict(obj)
    except CheckpointError:
        raise
    except _Bad as e:
        raise CheckpointError(f"{label}: {e}") from None
    except Exception as e:  # any failure on untrusted bytes means a bad file
        detail = _clean(f"{type(e).__name__}: {e}", 120)
        raise CheckpointError(
            f"{label}: corrupt or unsupported checkpoint ({detail}); re-save the state_dict "
            "with torch.save(model.state_dict(), path)"
        ) from None
