"""The Model: AlgZoo architecture + weights + task, immutable and validated.

Weights are kept under AlgZoo's PyTorch ``state_dict`` names, so checkpoints map one-to-one:

* RNN (tasks on Gaussian sequences): ``rnn.weight_ih_l0`` (d, 1) = W_hi,
  ``rnn.weight_hh_l0`` (d, d) = W_hh, ``linear.weight`` (k, d) = W_oh, with k = n for
  classification tasks and k = 1 for scalar ones; optional ``rnn.bias_ih_l0``,
  ``rnn.bias_hh_l0`` (d,) and ``linear.bias`` (k,).
* Attention-only transformer (longest_cycle): ``embed.weight`` (n, h), ``pos_embed.weight``
  (n, h), ``attns.{i}.in_proj_weight`` (3h, h), ``attns.{i}.out_proj.weight`` (h, h) for
  i < L, ``unembed.weight`` (n, h).

Arrays are stored as read-only float64 copies of the file's values (float32 values convert
exactly); ``dtype`` remembers the precision the weights came in, which the sampler uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from symest._errors import ModelError
from symest.tasks import Task

RNN_KEYS = ("rnn.weight_ih_l0", "rnn.weight_hh_l0", "linear.weight")
RNN_BIAS_KEYS = ("rnn.bias_ih_l0", "rnn.bias_hh_l0", "linear.bias")
_ATTN_KEY = re.compile(r"attns\.(\d+)\.(in_proj_weight|out_proj\.weight)$")


@dataclass(frozen=True, eq=False)
class Model:
    """An AlgZoo model. Build it with :func:`make_model`, which validates everything."""

    task: Task
    seq_len: int
    weights: Mapping[str, np.ndarray]
    name: str = "model"
    dtype: str = "float32"
    provenance: Mapping[str, str] = field(default_factory=dict)

    @property
    def arch(self) -> str:
        return "rnn" if "rnn.weight_hh_l0" in self.weights else "transformer"

    @property
    def hidden(self) -> int:
        w = self.weights["rnn.weight_hh_l0"] if self.arch == "rnn" else self.weights["embed.weight"]
        return int(w.shape[-1])

    @property
    def n_layers(self) -> int:
        return 1 if self.arch == "rnn" else sum(1 for k in self.weights if k.endswith("in_proj_weight"))

    @property
    def n_params(self) -> int:
        return int(sum(w.size for w in self.weights.values()))

    @property
    def has_bias(self) -> bool:
        return any(k in self.weights for k in RNN_BIAS_KEYS)

    # Convenience views of the RNN matrices (names from ARC's write-ups).
    @property
    def W_hi(self) -> np.ndarray:
        return self.weights["rnn.weight_ih_l0"]

    @property
    def W_hh(self) -> np.ndarray:
        return self.weights["rnn.weight_hh_l0"]

    @property
    def W_oh(self) -> np.ndarray:
        return self.weights["linear.weight"]

    def with_weights(self, weights: Mapping[str, np.ndarray], name: str | None = None) -> Model:
        """A validated copy with new weights (same task and length)."""
        return make_model(self.task, self.seq_len, weights, name=name or self.name, dtype=self.dtype,
                          provenance=self.provenance)

    def describe(self) -> str:
        if self.arch == "rnn":
            shape = f"1-layer ReLU RNN, hidden {self.hidden}" + (", with biases" if self.has_bias else "")
        else:
            shape = f"attention-only transformer, width {self.hidden}, {self.n_layers} layers"
        return f"{self.name}: {self.task.name}, sequence length {self.seq_len}, {shape}, {self.n_params} parameters"


def _expected_shapes(task: Task, seq_len: int, weights: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    if "rnn.weight_hh_l0" in weights:
        if task.inputs != "gaussian":
            raise ModelError(f"task {task.name} takes integer tokens, but these are RNN weights; use a transformer")
        d = int(np.shape(weights["rnn.weight_hh_l0"])[0])
        k = task.out_size(seq_len)
        shapes = {"rnn.weight_ih_l0": (d, 1), "rnn.weight_hh_l0": (d, d), "linear.weight": (k, d)}
        shapes.update({b: s for b, s in zip(RNN_BIAS_KEYS, [(d,), (d,), (k,)], strict=True) if b in weights})
        return shapes
    if "embed.weight" in weights:
        if task.inputs != "function":
            raise ModelError(f"task {task.name} takes Gaussian sequences, but these are transformer weights")
        h = int(np.shape(weights["embed.weight"])[-1])
        layers = sorted({int(m.group(1)) for k in weights if (m := _ATTN_KEY.match(k))})
        if layers != list(range(len(layers))):
            raise ModelError(f"attention layers must be numbered 0..L-1, found {layers}")
        n = seq_len
        shapes = {"embed.weight": (n, h), "pos_embed.weight": (n, h), "unembed.weight": (n, h)}
        for i in layers:
            shapes[f"attns.{i}.in_proj_weight"] = (3 * h, h)
            shapes[f"attns.{i}.out_proj.weight"] = (h, h)
        return shapes
    raise ModelError(
        "weights are neither an AlgZoo RNN (rnn.weight_hh_l0, ...) nor a transformer (embed.weight, ...); "
        f"found tensors {sorted(weights)[:6]}"
    )


def make_model(
    task: Task,
    seq_len: int,
    weights: Mapping[str, np.ndarray],
    *,
    name: str = "model",
    dtype: str = "float32",
    provenance: Mapping[str, str] | None = None,
) -> Model:
    """Validate names, shapes and finiteness, and freeze the arrays.

    Raises ModelError (one line) on unknown or missing tensors, wrong shapes (including an output
    size that does not match the task's sequence length), multi-layer RNNs, or NaN/inf values.
    """
    task.check_seq_len(seq_len)
    if any(k.startswith("rnn.") and k.endswith("_l1") for k in weights):
        raise ModelError("only 1-layer RNNs are supported (found rnn.*_l1 tensors)")
    expected = _expected_shapes(task, seq_len, weights)
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing:
        raise ModelError(f"missing tensor(s) {', '.join(missing)} for a {task.name} model")
    if extra:
        raise ModelError(f"unexpected tensor(s) {', '.join(sorted(extra))}; expected {', '.join(expected)}")
    frozen: dict[str, np.ndarray] = {}
    for key, shape in expected.items():
        w = np.array(weights[key], dtype=np.float64, copy=True)
        if w.shape != shape:
            hint = ""
            if key in ("linear.weight", "unembed.weight", "embed.weight", "pos_embed.weight"):
                hint = f" (task {task.name} with sequence length {seq_len} needs {shape[0]} rows; is --seq-len right?)"
            raise ModelError(f"tensor {key} has shape {w.shape}, expected {shape}{hint}")
        if not np.all(np.isfinite(w)):
            raise ModelError(f"tensor {key} contains NaN or infinite values")
        w.setflags(write=False)
        frozen[key] = w
    return Model(task, seq_len, MappingProxyType(frozen), name=name, dtype=dtype,
                 provenance=MappingProxyType(dict(provenance or {})))
