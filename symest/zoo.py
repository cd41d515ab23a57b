"""The bundled zoo and model lookup.

``models/manifest.json`` (format ``symest-zoo/1``) lists each bundled model's file, task, sizes,
training provenance and measured accuracy next to ARC's figure. In an installed wheel the
folder ships as ``symest/models``; in a source checkout it is the repository's ``models/``.

:func:`load` resolves a MODEL argument: an existing path (``.safetensors`` / ``.pth``), a
handcrafted name (``handcrafted_2nd_argmax_3``), or a zoo name (``2nd_argmax_4_3``).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from pathlib import Path
from typing import Any

from symest._errors import CheckpointError, SymestError
from symest.checkpoints import read_model
from symest.handcrafted import HANDCRAFTED
from symest.model import Model


def bundled_dir(name: str) -> Path:
    """A bundled data folder (``models`` or ``proofs``): inside the installed package first
    (the wheel ships them as ``symest/<name>``), then the source checkout's top level."""
    here = Path(__file__).resolve().parent
    for cand in (here / name, here.parent / name):
        if cand.is_dir():
            return cand
    return here.parent / name


def zoo_dir() -> Path:
    """The bundled models' folder."""
    return bundled_dir("models")


@functools.lru_cache(maxsize=1)
def manifest() -> tuple[dict[str, Any], ...]:
    """The zoo's manifest entries (empty if no zoo is present)."""
    path = zoo_dir() / "manifest.json"
    if not path.is_file():
        return ()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: unreadable zoo manifest ({e})") from None
    return tuple(data.get("models", []))


def entry(name: str) -> dict[str, Any] | None:
    return next((m for m in manifest() if m["name"] == name), None)


def names() -> list[str]:
    return list(HANDCRAFTED) + [m["name"] for m in manifest()]


def load(spec: str | os.PathLike, *, task: str | None = None, seq_len: int | None = None) -> Model:
    """Load a model from a path, a handcrafted name, or a zoo name."""
    s = str(spec)
    if s in HANDCRAFTED:
        model = HANDCRAFTED[s]()
    elif (e := entry(s)) is not None:
        model = read_model(zoo_dir() / e["file"], task=task, seq_len=seq_len)
    elif os.path.exists(s) or s.endswith((".pth", ".pt", ".safetensors")) or os.sep in s:
        model = read_model(s, task=task, seq_len=seq_len)
    else:
        close = difflib.get_close_matches(s, names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `symest zoo list` shows the bundled models"
        raise SymestError(f"unknown model {s!r}: not a file, a handcrafted model or a zoo name{hint}")
    if task is not None and task != model.task.name:
        raise SymestError(f"{s} is a {model.task.name} model, but --task {task} was given")
    if seq_len is not None and seq_len != model.seq_len:
        raise SymestError(f"{s} has sequence length {model.seq_len}, but --seq-len {seq_len} was given")
    return model
