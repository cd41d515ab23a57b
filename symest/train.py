"""Training AlgZoo models with AlgZoo's recipe, in JAX.

Recipe (AlgZoo's defaults, see ``/work/shared/reference/algzoo.md``):

* AdamW (betas 0.9/0.999, eps 1e-8), weight decay 1e-3, peak learning rate 0.04 / sqrt(hidden);
* schedule ``lr(s) = peak * min(1, (s + 1) / warmup) * max(0.01, 0.01 ** (2 s / steps))``:
  linear warm-up, then exponential decay that reaches the floor 0.01 half-way through;
* warm-up: AlgZoo warms up over 2^14 of its 2^20 steps (2^30 sequences / batch 1024), i.e. 1/64
  of training. With fewer sequences we keep that fraction: ``warmup = min(2^14, steps // 64)``
  (at least 1 step), so short runs are the same schedule compressed in time;
* every step draws a fresh batch (default 1024): iid N(0, 1) sequences, or for ``longest_cycle``
  functions as tables of iid uniform integers in {0..n-1}; cross-entropy for classification
  tasks, mean squared error for ``median``;
* PyTorch's default initialisation, one tensor at a time: ``nn.RNN`` weights
  U(-1/sqrt(d), 1/sqrt(d)); ``nn.Linear`` U(-1/sqrt(in_features), 1/sqrt(in_features));
  ``nn.Embedding`` N(0, 1); ``nn.MultiheadAttention`` in-projection Xavier-uniform
  (bound sqrt(6 / (h + 3h))) and its out-projection as a Linear.

Everything is driven by one JAX PRNG key derived from ``seed`` (init from one branch, the batch
of step s from ``fold_in(data_key, s)``), float32 throughout, so a run is bit-reproducible for
fixed (task, sizes, seed, sequences, batch) on the same machine and JAX version. Steps run inside
``lax.scan`` chunks of up to :data:`CHUNK` steps per jitted call; the mean loss and metric of each
chunk are what ``losses`` / ``accuracies`` record.

:func:`train_seeds` trains several seeds at once with ``jax.vmap`` (same recipe); for the tiny
models this raises throughput per seed. Its weights for a seed equal :func:`train`'s up to
floating-point reassociation (batched matmuls may round differently), so models meant to be
regenerated bit for bit with ``symest train`` should come from :func:`train`.

Speed (one shared core, batch 1024, steps/s including sampling the batch): M_{2,2} ~10k,
M_{4,3} ~9k, d=8 n=6 ~2.7k, M_{16,10} ~600-1100, d=32 n=10 ~550, longest_cycle h=4 n=5 ~550.
Training uses a batch-minor layout for speed (see the comment above :func:`targets_t`).

Nothing is written to disk here: callers write ``result.model`` with
:func:`symest.checkpoints.write_model` (atomic), so an interrupted run leaves no partial file.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from symest._errors import BudgetError, TaskError
from symest.model import Model, make_model
from symest.tasks import Task

LR_SCALE = 0.04
WEIGHT_DECAY = 1e-3
DECAY_MIN = 0.01
MAX_WARMUP = 2**14
WARMUP_FRACTION = 64  # AlgZoo: 2^14 warm-up steps out of 2^20
CHUNK = 256
RECIPE = (
    "AlgZoo recipe in JAX: AdamW wd 1e-3, lr 0.04/sqrt(hidden), linear warm-up min(2^14, steps/64), "
    "decay 0.01^(2 step/steps) floored at 0.01, fresh batches, torch default init"
)


@dataclass(frozen=True)
class TrainResult:
    """A trained model and its training curve.

    ``losses`` and ``accuracies`` hold one value per logged chunk of steps (mean over the chunk);
    for scalar tasks (median) ``accuracies`` holds the chunk's RMSE instead of an accuracy.
    ``seconds`` is wall time including JIT compilation (about a second per new configuration).
    """

    model: Model
    losses: tuple[float, ...]
    accuracies: tuple[float, ...]
    steps: int
    seconds: float

    @property
    def metric(self) -> str:
        return self.model.task.metric


# ----------------------------------------------------------------------------------- validation


def check_sizes(task: Task, hidden: int, seq_len: int, sequences: int, batch: int, n_layers: int = 2) -> int:
    """Validate the sizes of a training run; returns the number of steps."""
    task.check_seq_len(seq_len)
    if task.inputs == "function" and seq_len < 2:
        raise TaskError(f"task {task.name} needs sequence length >= 2 for training, got {seq_len}")
    if hidden < 1:
        raise TaskError(f"hidden size must be positive, got {hidden}")
    if task.inputs == "function" and n_layers < 1:
        raise TaskError(f"a transformer needs at least one layer, got {n_layers}")
    if batch < 1:
        raise BudgetError(f"batch size must be positive, got {batch}")
    if sequences < 1:
        raise BudgetError(f"number of training sequences must be positive, got {sequences}")
    if sequences < batch:
        raise BudgetError(f"need at least one batch of training sequences ({batch}), got {sequences}")
    return sequences // batch


def warmup_steps(steps: int) -> int:
    return max(1, min(MAX_WARMUP, steps // WARMUP_FRACTION))


def learning_rate(step: Any, steps: int, hidden: int, xp: Any = np) -> Any:
    """The schedule at (0-based) ``step`` of ``steps``."""
    peak = LR_SCALE / math.sqrt(hidden)
    warm = xp.minimum(1.0, (step + 1) / warmup_steps(steps))
    decay = xp.maximum(DECAY_MIN, DECAY_MIN ** (2.0 * step / steps))
    return peak * warm * decay


# ----------------------------------------------------------------------------------- init


def init_weights(task: Task, hidden: int, seq_len: int, key: Any, n_layers: int = 2) -> dict[str, Any]:
    """PyTorch-default initial weights (float32 jax arrays) under AlgZoo's state_dict names."""
    import jax
    import jax.numpy as jnp

    def unif(k: Any, shape: tuple[int, ...], bound: float) -> Any:
        return jax.random.uniform(k, shape, jnp.float32, -bound, bound)

    if task.inputs == "gaussian":
        d, k_out = hidden, task.out_size(seq_len)
        k1, k2, k3 = jax.random.split(key, 3)
        b = 1 / math.sqrt(d)
        return {"rnn.weight_ih_l0": unif(k1, (d, 1), b), "rnn.weight_hh_l0": unif(k2, (d, d), b),
                "linear.weight": unif(k3, (k_out, d), b)}
    h, n = hidden, seq_len
    keys = jax.random.split(key, 3 + 2 * n_layers)
    w = {"embed.weight": jax.random.normal(keys[0], (n, h), jnp.float32),
         "pos_embed.weight": jax.random.normal(keys[1], (n, h), jnp.float32)}
    for i in range(n_layers):
        w[f"attns.{i}.in_proj_weight"] = unif(keys[2 + 2 * i], (3 * h, h), math.sqrt(6 / (h + 3 * h)))
        w[f"attns.{i}.out_proj.weight"] = unif(keys[3 + 2 * i], (h, h), 1 / math.sqrt(h))
    w["unembed.weight"] = unif(keys[-1], (n, h), 1 / math.sqrt(h))
    return w


# ----------------------------------------------------------------------------------- steps
#
# Training works in a batch-minor layout: inputs (n, B), hidden states (d, B), logits (k, B).
# XLA's CPU code vectorises along the minor axis, so with AlgZoo's tiny widths (d = 2 .. 32)
# keeping the batch there makes a step 2-4x faster than forward.outputs' (B, n) layout, and
# drawing the batch as (n, B) makes jax.random.normal several times faster. The functions below
# compute exactly what symest.forward.outputs and Task.target compute (tests check it).

_RANK_TASKS = {"2nd_argmax": lambda n: n - 2, "argmax": lambda n: n - 1, "argmedian": lambda n: n // 2}


def targets_t(task: Task, x: Any) -> Any:
    """``task.target`` for a batch-minor batch ``x`` of shape (n, B); returns (B,)."""
    import jax.numpy as jnp

    n = x.shape[0]
    if task.name in _RANK_TASKS or task.name == "median":
        # rank[i, b] = #{j : x_j < x_i}; an unrolled sum and index-weighted sums instead of an
        # (n, n, B) comparison and argmax over a non-minor axis, which are ~20x slower on CPU
        rank = jnp.zeros(x.shape, jnp.int32)
        for j in range(n):
            rank = rank + (x[j][None, :] < x)
        if task.name == "median":
            lo, hi = rank == (n - 1) // 2, rank == n // 2
            return (jnp.where(lo, x, 0).sum(axis=0) + jnp.where(hi, x, 0).sum(axis=0)) / 2
        return (jnp.arange(n, dtype=jnp.int32)[:, None] * (rank == _RANK_TASKS[task.name](n))).sum(axis=0)
    return task.target(x.T, jnp)


def outputs_t(weights: dict[str, Any], x: Any) -> Any:
    """``symest.forward.outputs`` in the batch-minor layout: x (n, B) -> outputs (k, B)."""
    import jax.numpy as jnp

    if "rnn.weight_hh_l0" in weights:
        w_hi, w_hh = weights["rnn.weight_ih_l0"], weights["rnn.weight_hh_l0"]
        h = None
        for t in range(x.shape[0]):
            pre = w_hi * x[t][None, :]
            if h is not None:
                pre = pre + w_hh @ h
            h = jnp.maximum(pre, 0)
        return weights["linear.weight"] @ h
    embed = weights["embed.weight"]
    vocab, width = embed.shape
    n, b = x.shape
    one_hot = (x[None] == jnp.arange(vocab)[:, None, None]).astype(embed.dtype).reshape(vocab, n * b)
    r = (embed.T @ one_hot).reshape(width, n, b) + weights["pos_embed.weight"].T[:, :n, None]
    layer = 0
    while f"attns.{layer}.in_proj_weight" in weights:
        qkv = (weights[f"attns.{layer}.in_proj_weight"] @ r.reshape(width, n * b)).reshape(3, width, n, b)
        scores = jnp.einsum("cib,cjb->ijb", qkv[0], qkv[1]) / jnp.sqrt(jnp.asarray(width, dtype=r.dtype))
        scores = scores - scores.max(axis=1, keepdims=True)
        att = jnp.exp(scores)
        att = att / att.sum(axis=1, keepdims=True)
        mixed = jnp.einsum("ijb,cjb->cib", att, qkv[2]).reshape(width, n * b)
        r = r + (weights[f"attns.{layer}.out_proj.weight"] @ mixed).reshape(width, n, b)
        layer += 1
    return weights["unembed.weight"] @ r[:, -1, :]


def sample_batch(task: Task, seq_len: int, batch: int, key: Any) -> tuple[Any, Any]:
    """A fresh batch-minor training batch: inputs (seq_len, batch) and targets (batch,)."""
    import jax
    import jax.numpy as jnp

    if task.inputs == "function":
        x = jax.random.randint(key, (seq_len, batch), 0, seq_len, dtype=jnp.int32)
    else:
        x = jax.random.normal(key, (seq_len, batch), jnp.float32)
    return x, targets_t(task, x)


def _loss_and_metric(task: Task, weights: dict[str, Any], x: Any, y: Any) -> tuple[Any, Any]:
    """(loss, metric): cross-entropy and accuracy, or MSE and MSE for scalar tasks."""
    import jax
    import jax.numpy as jnp

    out = outputs_t(weights, x)
    if task.output == "scalar":
        mse = jnp.mean((out[0] - y) ** 2)
        return mse, mse
    idx = jnp.arange(out.shape[0])[:, None]
    is_target = idx == y[None, :]
    target_logp = jnp.where(is_target, jax.nn.log_softmax(out, axis=0), 0).sum(axis=0)
    # argmax(out) == y without a (slow, non-minor-axis) argmax: the target's logit beats every
    # earlier logit strictly and every later one weakly, as argmax breaks ties by the first index
    target = jnp.where(is_target, out, 0).sum(axis=0)[None, :]
    correct = jnp.where(idx < y[None, :], out < target, out <= target).all(axis=0)
    return -target_logp.mean(), correct.mean()


@dataclass(frozen=True)
class _Runner:
    """Jitted multi-step updates for one training configuration."""

    task: Task
    hidden: int
    seq_len: int
    batch: int
    steps: int
    n_seeds: int | None  # None: one unbatched run; k: vmap over k seeds

    def optimizer(self) -> Any:
        import jax.numpy as jnp
        import optax

        return optax.adamw(lambda s: learning_rate(s, self.steps, self.hidden, jnp),
                           b1=0.9, b2=0.999, eps=1e-8, weight_decay=WEIGHT_DECAY)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - runners are small, hashable and few
    def chunk_fn(self, length: int) -> Any:
        """jit(state, step0) -> (state, mean loss, mean metric) running ``length`` steps (cached)."""
        import jax
        import optax

        opt = self.optimizer()
        task, n, b = self.task, self.seq_len, self.batch

        def one(state: tuple[Any, Any, Any], step: Any) -> tuple[tuple[Any, Any, Any], tuple[Any, Any]]:
            weights, opt_state, data_key = state
            x, y = sample_batch(task, n, b, jax.random.fold_in(data_key, step))
            (loss, metric), grads = jax.value_and_grad(
                lambda w: _loss_and_metric(task, w, x, y), has_aux=True)(weights)
            updates, opt_state = opt.update(grads, opt_state, weights)
            return (optax.apply_updates(weights, updates), opt_state, data_key), (loss, metric)

        def run(state: tuple[Any, Any, Any], step0: Any) -> tuple[tuple[Any, Any, Any], Any, Any]:
            state, (losses, metrics) = jax.lax.scan(one, state, step0 + jax.numpy.arange(length))
            return state, losses.mean(), metrics.mean()

        if self.n_seeds is not None:
            run = jax.vmap(run, in_axes=(0, None))
        return jax.jit(run, donate_argnums=0)


def _initial_state(task: Task, hidden: int, seq_len: int, seed: int, n_layers: int, opt: Any) -> tuple[Any, Any, Any]:
    import jax

    init_key, data_key = jax.random.split(jax.random.key(seed))
    weights = init_weights(task, hidden, seq_len, init_key, n_layers)
    return weights, opt.init(weights), data_key


_RunOut = tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray, int, float]


def _run(task: Task, hidden: int, seq_len: int, seeds: Sequence[int], *, sequences: int, batch: int,
         n_layers: int, progress: bool, batched: bool) -> _RunOut:
    import jax

    steps = check_sizes(task, hidden, seq_len, sequences, batch, n_layers)
    for s in seeds:
        if not 0 <= s < 2**32:
            raise TaskError(f"seed must be in 0..2^32-1, got {s}")
    runner = _Runner(task, hidden, seq_len, batch, steps, len(seeds) if batched else None)
    opt = runner.optimizer()
    states = [_initial_state(task, hidden, seq_len, s, n_layers, opt) for s in seeds]
    state = jax.tree.map(lambda *a: jax.numpy.stack(a), *states) if batched else states[0]
    chunk = min(CHUNK, steps)
    losses: list[Any] = []
    metrics: list[Any] = []
    bar = None
    if progress:
        from tqdm import tqdm

        label = f"{task.name} d={hidden} n={seq_len}" + (f" seeds {list(seeds)}" if batched else f" seed {seeds[0]}")
        bar = tqdm(total=steps, desc=label, unit="step", dynamic_ncols=True)
    start = time.perf_counter()
    try:
        done = 0
        while done < steps:
            length = min(chunk, steps - done)
            state, loss, metric = runner.chunk_fn(length)(state, np.int32(done))
            done += length
            losses.append(loss)
            metrics.append(metric)
            if bar is not None:
                lv, mv = np.asarray(loss).mean(), np.asarray(metric).mean()
                shown = f"rmse={math.sqrt(mv):.4f}" if task.output == "scalar" else f"acc={mv:.4f}"
                bar.set_postfix_str(f"loss={lv:.4f} {shown}", refresh=False)
                bar.update(length)
        jax.block_until_ready(state)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    weights = jax.device_get(state[0])
    per_seed = [{k: np.asarray(v[i] if batched else v) for k, v in weights.items()} for i in range(len(seeds))]
    loss_arr = np.asarray(jax.device_get(losses), dtype=np.float64).reshape(len(losses), -1)
    metric_arr = np.asarray(jax.device_get(metrics), dtype=np.float64).reshape(len(metrics), -1)
    if task.output == "scalar":
        metric_arr = np.sqrt(metric_arr)
    return per_seed, loss_arr, metric_arr, steps, seconds


def _result(task: Task, hidden: int, seq_len: int, seed: int, batch: int, weights: dict[str, np.ndarray],
            losses: np.ndarray, metrics: np.ndarray, steps: int, seconds: float, name: str | None) -> TrainResult:
    provenance = {"source": "symest.train", "recipe": RECIPE, "seed": str(seed), "train_sequences": str(steps * batch),
                  "batch": str(batch)}
    model = make_model(task, seq_len, weights, name=name or f"{task.name}_{hidden}_{seq_len}", dtype="float32",
                       provenance=provenance)
    return TrainResult(model, tuple(float(v) for v in losses), tuple(float(v) for v in metrics), steps, seconds)


def train(task: Task, hidden: int, seq_len: int, *, seed: int, sequences: int, batch: int = 1024, n_layers: int = 2,
          progress: bool = False, name: str | None = None) -> TrainResult:
    """Train one model with AlgZoo's recipe on ``sequences`` fresh sequences (``sequences // batch`` steps).

    ``n_layers`` only matters for transformer tasks (longest_cycle). Raises TaskError for sizes the
    task does not allow and BudgetError for a non-positive or sub-batch number of sequences.
    Bit-reproducible for fixed arguments. The model's provenance records recipe, seed and sequences.
    """
    w, losses, metrics, steps, seconds = _run(task, hidden, seq_len, [seed], sequences=sequences, batch=batch,
                                              n_layers=n_layers, progress=progress, batched=False)
    return _result(task, hidden, seq_len, seed, batch, w[0], losses[:, 0], metrics[:, 0], steps, seconds, name)


def train_seeds(task: Task, hidden: int, seq_len: int, *, seeds: Sequence[int], sequences: int, batch: int = 1024,
                n_layers: int = 2, progress: bool = False) -> list[TrainResult]:
    """Train one model per seed simultaneously (``jax.vmap`` over seeds); ``seconds`` is the shared wall time."""
    if not seeds:
        raise BudgetError("need at least one seed")
    if len(set(seeds)) != len(seeds):
        raise TaskError(f"seeds must be distinct, got {list(seeds)}")
    w, losses, metrics, steps, seconds = _run(task, hidden, seq_len, list(seeds), sequences=sequences, batch=batch,
                                              n_layers=n_layers, progress=progress, batched=True)
    return [_result(task, hidden, seq_len, s, batch, w[i], losses[:, i], metrics[:, i], steps, seconds, None)
            for i, s in enumerate(seeds)]


@functools.lru_cache(maxsize=64)
def _eval_fn(task: Task, seq_len: int, batch: int) -> Any:
    import jax
    import jax.numpy as jnp

    def run(weights: dict[str, Any], key: Any, index: Any) -> Any:
        x, y = sample_batch(task, seq_len, batch, jax.random.fold_in(key, index))
        out = outputs_t(weights, x)
        if task.output == "scalar":
            err = (out[0] - y) ** 2
        else:
            err = (jnp.argmax(out, axis=0) == y).astype(jnp.float32)
        err = err.astype(jnp.float32)
        return err.sum(), (err**2).sum()

    return jax.jit(run)


def evaluate(model: Model, samples: int, seed: int, batch: int = 2**16) -> tuple[float, float]:
    """(accuracy, stderr) -- or (RMSE, stderr) for scalar tasks -- of ``model`` on ``samples`` fresh inputs.

    A fast float32 JAX evaluator for training-time validation (seed selection): batches of
    ``batch`` inputs drawn like training batches from ``jax.random.key(seed)`` (``samples`` is
    rounded up to whole batches). The RMSE's stderr is the delta-method one, se(MSE) / (2 RMSE).
    Reported figures should come from :func:`symest.estimators.sampling.sample_estimate`.
    """
    import jax

    if samples < 1:
        raise BudgetError(f"number of evaluation samples must be positive, got {samples}")
    batch = min(batch, samples)
    n_batches = -(-samples // batch)
    weights = {k: jax.numpy.asarray(v, dtype=jax.numpy.float32) for k, v in model.weights.items()}
    fn = _eval_fn(model.task, model.seq_len, batch)
    key = jax.random.key(seed)
    total = total_sq = 0.0
    for i in range(n_batches):
        s, sq = fn(weights, key, np.int32(i))
        total += float(s)
        total_sq += float(sq)
    count = n_batches * batch
    mean = total / count
    var = max(total_sq / count - mean**2, 0.0)
    se = math.sqrt(var / (count - 1)) if count > 1 else math.inf
    if model.task.output == "scalar":
        rmse = math.sqrt(mean)
        return rmse, (se / (2 * rmse) if rmse > 0 else se)
    return mean, se
