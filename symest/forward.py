"""Forward passes, written once against an array namespace ``xp`` (numpy or jax.numpy).

RNN (AlgZoo ``nn.RNN(relu, bias=False)`` + ``nn.Linear``), inputs x of shape (B, n):

    h_0 = 0,   h_{t+1} = ReLU(W_hh h_t + W_hi x_t [+ b_ih + b_hh]),   out = W_oh h_n [+ b_oh]

Transformer (longest_cycle), tokens f of shape (B, n) with values in {0..n-1}:

    r = E[f] + P;  for each layer: q, k, v = r W_q^T, r W_k^T, r W_v^T,
    r = r + softmax(q k^T / sqrt(h)) v W_o^T  (single head, no mask, no bias);
    logits = U r[:, -1]

Both return (B, k) outputs. Computation happens in the dtype of ``weights`` and ``x``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Array = Any


def rnn_hidden(weights: Mapping[str, Array], x: Array, xp: Any) -> Array:
    """Final hidden state h_n, shape (B, d)."""
    w_hi = weights["rnn.weight_ih_l0"][:, 0]
    w_hh_t = weights["rnn.weight_hh_l0"].T
    bias = None
    if "rnn.bias_ih_l0" in weights:
        bias = weights["rnn.bias_ih_l0"] + weights["rnn.bias_hh_l0"]
    h = None
    for t in range(x.shape[-1]):
        pre = x[:, t, None] * w_hi
        if h is not None:
            pre = pre + h @ w_hh_t
        if bias is not None:
            pre = pre + bias
        h = xp.maximum(pre, 0)
    return h


def transformer_logits(weights: Mapping[str, Array], tokens: Array, xp: Any) -> Array:
    embed = weights["embed.weight"]
    h = embed.shape[1]
    r = embed[tokens] + weights["pos_embed.weight"][None, : tokens.shape[-1]]
    layer = 0
    while f"attns.{layer}.in_proj_weight" in weights:
        w_in = weights[f"attns.{layer}.in_proj_weight"]
        q, k, v = r @ w_in[:h].T, r @ w_in[h : 2 * h].T, r @ w_in[2 * h :].T
        scores = q @ xp.swapaxes(k, -1, -2) / xp.sqrt(xp.asarray(h, dtype=r.dtype))
        scores = scores - scores.max(axis=-1, keepdims=True)
        att = xp.exp(scores)
        att = att / att.sum(axis=-1, keepdims=True)
        r = r + (att @ v) @ weights[f"attns.{layer}.out_proj.weight"].T
        layer += 1
    return r[:, -1] @ weights["unembed.weight"].T


def outputs(weights: Mapping[str, Array], x: Array, xp: Any) -> Array:
    """Logits (or the scalar output) for a batch, shape (B, k)."""
    if "rnn.weight_hh_l0" in weights:
        out = rnn_hidden(weights, x, xp) @ weights["linear.weight"].T
        if "linear.bias" in weights:
            out = out + weights["linear.bias"]
        return out
    return transformer_logits(weights, x, xp)


def forward_numpy(model: Any, x: Array, dtype: str | None = None) -> Array:
    """NumPy forward of a :class:`~symest.model.Model` (float64 by default)."""
    import numpy as np

    dt = np.dtype(dtype or "float64")
    w = {k: v.astype(dt) for k, v in model.weights.items()}
    xin = np.asarray(x) if model.task.inputs == "function" else np.asarray(x, dtype=dt)
    return outputs(w, xin, np)
