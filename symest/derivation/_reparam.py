"""Reparametrizations: exact, function-preserving changes of an RNN's weights."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from symest.derivation._errors import DerivationError
from symest.derivation._symbols import _require_rnn
from symest.model import Model


@dataclass(frozen=True)
class Rescale:
    """Scale hidden neuron i by ``factors[i] > 0``: its incoming weights (row i of W_hi, W_hh and
    its biases) by c_i and its outgoing weights (column i of W_hh and W_oh) by 1/c_i."""

    factors: tuple[float, ...]

    def spec(self) -> dict[str, Any]:
        return {"type": "rescale", "factors": [float(c) for c in self.factors]}

    def resolve(self, model: Model) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.factors, dtype=np.float64), np.arange(model.hidden)

    def describe(self) -> str:
        return "rescale hidden neurons by (" + ", ".join(f"{c:.6g}" for c in self.factors) + ")"


@dataclass(frozen=True)
class Permute:
    """Reorder hidden neurons: new neuron i is old neuron ``perm[i]``."""

    perm: tuple[int, ...]

    def spec(self) -> dict[str, Any]:
        return {"type": "permute", "perm": [int(p) for p in self.perm]}

    def resolve(self, model: Model) -> tuple[np.ndarray, np.ndarray]:
        return np.ones(model.hidden), np.asarray(self.perm)

    def describe(self) -> str:
        return f"permute hidden neurons {list(self.perm)}"


@dataclass(frozen=True)
class Standardize:
    """ARC's standardization: rescale each hidden neuron so |W_hi[i]| = 1 (neurons with
    W_hi[i] = 0 untouched). The factors are recomputed from whatever weights it is applied to."""

    def spec(self) -> dict[str, Any]:
        return {"type": "standardize"}

    def resolve(self, model: Model) -> tuple[np.ndarray, np.ndarray]:
        wi = np.abs(model.W_hi[:, 0])
        with np.errstate(divide="ignore"):
            c = np.where(wi > 0, 1.0 / np.where(wi > 0, wi, 1.0), 1.0)
        return c, np.arange(model.hidden)

    def describe(self) -> str:
        return "standardize: rescale each hidden neuron so that |W_hi[i]| = 1"


@dataclass(frozen=True)
class Compose:
    """Apply ``parts`` in order."""

    parts: tuple[Any, ...]

    def spec(self) -> dict[str, Any]:
        return {"type": "compose", "parts": [p.spec() for p in self.parts]}

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.parts)


def transform_from_spec(spec: Mapping[str, Any]) -> Any:
    t = spec.get("type")
    if t == "rescale":
        return Rescale(tuple(float(c) for c in spec["factors"]))
    if t == "permute":
        return Permute(tuple(int(p) for p in spec["perm"]))
    if t == "standardize":
        return Standardize()
    if t == "compose":
        return Compose(tuple(transform_from_spec(p) for p in spec["parts"]))
    raise DerivationError(f"unknown reparametrization {str(t)[:30]!r}")


def _contains_standardize(tr: Any) -> bool:
    return isinstance(tr, Standardize) or (isinstance(tr, Compose) and any(_contains_standardize(p) for p in tr.parts))


def _apply_one(model: Model, c: np.ndarray, perm: np.ndarray, xp: Any = np) -> dict[str, Any]:
    out = {}
    for key, arr in model.weights.items():
        a = xp.asarray(arr) if xp is not np else arr
        if key == "rnn.weight_ih_l0":
            a = (a * c[:, None])[perm]
        elif key == "rnn.weight_hh_l0":
            a = (a * c[:, None] / c[None, :])[perm][:, perm]
        elif key == "linear.weight":
            a = (a / c[None, :])[:, perm]
        elif key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0"):
            a = (a * c)[perm]
        out[key] = a
    return out


def _validate_transform(model: Model, c: np.ndarray, perm: np.ndarray) -> str | None:
    d = model.hidden
    if c.shape != (d,) or not np.all(np.isfinite(c)) or not np.all(c > 0):
        return f"rescaling factors must be {d} finite positive numbers"
    if perm.shape != (d,) or sorted(perm.tolist()) != list(range(d)):
        return f"not a permutation of the {d} hidden neurons"
    return None


_PROBE_SEED = 20240517
_PROBE_SIZE = 64


def apply_reparametrization(model: Model, transform: Any) -> tuple[Model, bool, str, int]:
    """(new model, verified, note, FLOPs). Verified = allowed kind and outputs agree on a fixed
    probe batch (64 seeded Gaussian inputs, relative tolerance 1e-9)."""
    from symest.flops import count
    from symest.forward import forward_numpy

    _require_rnn(model)
    parts = transform.parts if isinstance(transform, Compose) else (transform,)
    cur = model
    flops = 0
    for part in parts:
        if not isinstance(part, (Rescale, Permute, Standardize)):
            raise DerivationError(f"{type(part).__name__} is not an allowed reparametrization "
                                  "(Rescale, Permute, Standardize, Compose)")
        c, perm = part.resolve(cur)
        bad = _validate_transform(cur, c, perm)
        if bad:
            return cur, False, bad, flops
        if isinstance(part, Standardize):
            flops += count(lambda fnp, wi: 1.0 / fnp.abs(wi), cur.W_hi[:, 0])
        if not isinstance(part, Permute):
            flops += count(lambda fnp, ws, cc: _apply_one_fnp(ws, cc, fnp), dict(cur.weights), c)
        cur = cur.with_weights(_apply_one(cur, c, perm))
    probe = np.random.default_rng(_PROBE_SEED).standard_normal((_PROBE_SIZE, model.seq_len))
    a, b = forward_numpy(model, probe), forward_numpy(cur, probe)
    err = float(np.abs(a - b).max())
    ok = err <= 1e-9 * (1.0 + float(np.abs(a).max()))
    note = f"outputs agree on {_PROBE_SIZE} probe inputs (max |difference| {err:.1e})"
    return cur, ok, note if ok else "outputs differ on the probe batch: " + note, flops


def _apply_one_fnp(ws: Mapping[str, Any], c: Any, fnp: Any) -> None:
    for key, a in ws.items():
        if key == "rnn.weight_ih_l0":
            _ = a * c[:, None]
        elif key == "rnn.weight_hh_l0":
            _ = a * c[:, None] / c[None, :]
        elif key == "linear.weight":
            _ = a / c[None, :]
        elif key in ("rnn.bias_ih_l0", "rnn.bias_hh_l0"):
            _ = a * c
