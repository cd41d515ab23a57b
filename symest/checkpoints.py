"""Reading and writing model files.

* ``.safetensors`` (symest's own format): the AlgZoo tensor names, float32 (float64 for exact
  handcrafted constructions), and string metadata ``task``, ``seq_len``, ``dtype`` plus any
  provenance fields. Written atomically: a temporary file in the target folder, then a rename,
  so a failure never leaves a half-written model.
* ``.pth`` (AlgZoo's PyTorch ``state_dict`` files): read by :mod:`symest.pth` without torch and
  without executing pickled code.

Task and sequence length come from the file's metadata, else the caller, else the file name
(ARC's ``{task}_{hidden}_{seq_len}_{n_seqs}_{seed}.pth`` or any name containing a task), else
the weights (the output size equals n for classification tasks).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from symest._errors import CheckpointError, ModelError
from symest.model import Model, make_model
from symest.tasks import TASKS, Task, get_task

FORMAT = "symest-algzoo/1"


def _read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            meta = dict(f.metadata() or {})
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    except Exception as e:  # safetensors raises its own error types for truncated or bad headers
        raise CheckpointError(f"{path}: not a readable .safetensors file ({str(e).splitlines()[0]})") from None


def _guess_from_name(stem: str) -> tuple[str | None, int | None]:
    """Task and sequence length from a file name (longest task name wins: 2nd_argmax > argmax)."""
    for name in sorted(TASKS, key=len, reverse=True):
        m = re.search(rf"(?:^|_){re.escape(name)}(?:_(\d+)_(\d+))?(?:_|$)", stem)
        if m:
            return name, (int(m.group(2)) if m.group(2) else None)
    return None, None


def _infer_seq_len(task: Task, weights: Mapping[str, np.ndarray]) -> int | None:
    if task.output == "dist":
        key = "linear.weight" if "linear.weight" in weights else "unembed.weight"
        if key in weights:
            return int(np.shape(weights[key])[0])
    return None


def read_model(path: str | os.PathLike, *, task: str | None = None, seq_len: int | None = None) -> Model:
    """Load a ``.safetensors`` or AlgZoo ``.pth`` file as a validated Model."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such file")
    if p.suffix == ".safetensors":
        weights, meta = _read_safetensors(p)
    elif p.suffix in (".pth", ".pt"):
        from symest.pth import read_pth

        weights, meta = read_pth(p), {}
    else:
        raise CheckpointError(f"{p}: unknown file type {p.suffix!r}; expected .safetensors or .pth")
    name_task, name_len = _guess_from_name(p.stem)
    task_name = meta.get("task") or task or name_task
    if task_name is None:
        raise CheckpointError(f"{p}: the file does not say its task; pass --task (one of {', '.join(TASKS)})")
    if task and meta.get("task") and task != meta["task"]:
        raise CheckpointError(f"{p}: file is a {meta['task']} model but --task {task} was given")
    t = get_task(task_name)
    n = int(meta["seq_len"]) if "seq_len" in meta else seq_len or _infer_seq_len(t, weights) or name_len
    if n is None:
        raise CheckpointError(
            f"{p}: cannot tell the sequence length of a {t.name} model from its weights; pass --seq-len N")
    provenance = {k: v for k, v in meta.items() if k not in ("task", "seq_len", "dtype", "format")}
    try:
        return make_model(t, n, weights, name=meta.get("name", p.stem), dtype=meta.get("dtype", "float32"),
                          provenance=provenance)
    except ModelError as e:
        raise ModelError(f"{p}: {e}") from None


def write_model(model: Model, path: str | os.PathLike, **extra_meta: object) -> Path:
    """Write ``model`` to ``path`` (.safetensors) atomically; returns the path."""
    from safetensors.numpy import save_file

    p = Path(path)
    if p.suffix != ".safetensors":
        raise CheckpointError(f"{p}: can only write .safetensors files")
    if not p.parent.is_dir():
        raise CheckpointError(f"{p}: folder {p.parent} does not exist")
    dtype = np.float64 if model.dtype == "float64" else np.float32
    tensors = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in model.weights.items()}
    meta = {"format": FORMAT, "task": model.task.name, "seq_len": str(model.seq_len), "dtype": model.dtype,
            "name": model.name, **{k: str(v) for k, v in model.provenance.items()},
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in extra_meta.items()}}
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise CheckpointError(f"{p}: cannot write there ({e.strerror})") from None
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a model file is ordinary data
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
