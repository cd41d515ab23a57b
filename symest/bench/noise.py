"""Noisy copies of a model (ARC's noisy-weights protocol) and the seeds derived for them.

Copy k of a model adds iid N(0, sigma^2) noise to every weight, drawn from
``numpy.random.default_rng(SeedSequence([seed, k]))`` over the tensors in sorted name order, and
rounds the result to the model's precision (float32 for trained models) so that every method
(float64 exact sums and float32 sampling alike) sees the same network. Everything here is a
pure function of its arguments, so any process on any machine rebuilds the same copy.

Models cross process boundaries as a :class:`ModelSpec` (plain, picklable data); a
:class:`~symest.model.Model` holds read-only mapping proxies that do not pickle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symest.model import Model, make_model


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model: task name, length, weights, name, precision."""

    task: str
    seq_len: int
    weights: tuple[tuple[str, np.ndarray], ...]
    name: str
    dtype: str
    provenance: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, model: Model) -> ModelSpec:
        return cls(model.task.name, model.seq_len,
                   tuple((k, np.array(v)) for k, v in sorted(model.weights.items())),
                   model.name, model.dtype, tuple(sorted(model.provenance.items())))

    def build(self) -> Model:
        from symest.tasks import get_task

        return make_model(get_task(self.task), self.seq_len, dict(self.weights), name=self.name, dtype=self.dtype,
                          provenance=dict(self.provenance))


def weights_hash(weights: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the weights (names, shapes and float64 values, in sorted name order)."""
    h = hashlib.sha256()
    for key in sorted(weights):
        w = np.ascontiguousarray(np.asarray(weights[key], dtype=np.float64))
        h.update(key.encode())
        h.update(repr(w.shape).encode())
        h.update(w.tobytes())
    return h.hexdigest()


def noisy_weights(weights: Mapping[str, np.ndarray], sigma: float, seed: int, copy: int,
                  dtype: str = "float64") -> dict[str, np.ndarray]:
    """Copy ``copy``'s weights: each plus iid N(0, sigma^2) noise, rounded to ``dtype``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(copy)]))
    out = {}
    for key in sorted(weights):
        w = np.asarray(weights[key], dtype=np.float64)
        noisy = w + rng.normal(0.0, sigma, size=w.shape)
        out[key] = noisy.astype(np.float32 if dtype == "float32" else np.float64).astype(np.float64)
    return out


def noisy_copy(model: Model, sigma: float, seed: int, copy: int) -> Model:
    """Noisy copy number ``copy`` of ``model`` (named ``<name>~<copy>``)."""
    return model.with_weights(noisy_weights(model.weights, sigma, seed, copy, model.dtype),
                              name=f"{model.name}~{copy}")


def derived_seed(*parts: Any) -> int:
    """A 31-bit seed that is a pure function of integer ``parts`` (e.g. (seed, copy, budget))."""
    ints = [round(float(p)) if not isinstance(p, str) else int.from_bytes(p.encode()[:8], "little")
            for p in parts]
    return int(np.random.SeedSequence(ints).generate_state(1, dtype=np.uint32)[0] >> 1)
