"""On-disk cache of the noisy copies' ground-truth accuracies.

One JSON file per copy, ``<cache_dir>/truth/<key>.json``, where ``key`` is the SHA-256 of the
base model's weights, task, length and precision, sigma, seed, copy index, the truth method and
(for sampled truths) the sample count. Each file repeats its key and the hash of the noisy
copy's weights. A file that does not parse, lacks a field, or whose key or weights hash do not
match is reported in one line on stderr and rebuilt; writes are atomic (temporary file, then
``os.replace``), so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

FORMAT = "symest-truth/1"
REQUIRED = ("format", "key", "copy_weights", "copy", "method", "value", "kind", "flops")
DEFAULT_DIR = ".symest-cache"


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"symest: warning: {message}", file=sys.stderr)


def truth_key(base_hash: str, task: str, seq_len: int, dtype: str, sigma: float, seed: int, copy: int,
              method: str, samples: int | None) -> str:
    text = json.dumps([FORMAT, base_hash, task, seq_len, dtype, repr(float(sigma)), int(seed), int(copy), method,
                       samples])
    return hashlib.sha256(text.encode()).hexdigest()


class TruthCache:
    """Ground truths on disk (``directory=None`` disables caching)."""

    def __init__(self, directory: str | os.PathLike | None = DEFAULT_DIR) -> None:
        self.dir = None if directory is None else Path(directory) / "truth"
        self.rebuilt: list[str] = []

    def path(self, key: str) -> Path | None:
        return None if self.dir is None else self.dir / f"{key}.json"

    def get(self, key: str, copy_weights: str) -> dict[str, Any] | None:
        """The cached entry, or None (missing, or corrupted: warned about and to be rebuilt)."""
        path = self.path(key)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            missing = [k for k in REQUIRED if k not in data]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            if data["format"] != FORMAT or data["key"] != key:
                raise ValueError("key mismatch")
            if data["copy_weights"] != copy_weights:
                raise ValueError("weights hash mismatch")
            if not isinstance(data["value"], (int, float)):
                raise ValueError("value is not a number")
        except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
            warn(f"corrupted ground-truth cache file {path} ({str(e).splitlines()[0][:80]}); rebuilding it")
            self.rebuilt.append(str(path))
            return None
        return data

    def put(self, key: str, entry: dict[str, Any]) -> None:
        path = self.path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "key": key, **entry}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
