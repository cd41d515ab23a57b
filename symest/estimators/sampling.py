"""Random sampling: the baseline every mechanistic estimator is compared with.

For accuracy p the estimate is the fraction of N iid inputs scored correct; its standard error
is sqrt(p(1-p)/N). For median models the per-sample score is the squared error e^2; the
estimate is RMSE = sqrt(mean e^2) with delta-method standard error sd(e^2) / (2 sqrt(N) RMSE).

Implementation: one jitted JAX function draws a chunk of C inputs (key = fold_in(seed key, i)
for chunk i; normals by :func:`box_muller`), runs the forward pass and scores it; a Python
loop accumulates chunk sums in float64, so memory is O(C) for any N and the numbers depend
only on (seed, N), not on progress display. The last chunk is masked, so one compilation serves every N. FLOPs = N x
:func:`symest.flops.per_sample_flops` (forward + score; input drawing is not charged).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from typing import Any

import numpy as np

from symest._errors import BudgetError
from symest.estimate import Estimate
from symest.flops import per_sample_flops
from symest.model import Model

CHUNK = 1 << 16


def box_muller(key: Any, shape: tuple[int, int], dtype: Any) -> Any:
    """Standard normals by the Box-Muller transform of uniform bits (exact, not approximate):
    for U1 in (0, 1], U2 in [0, 1), sqrt(-2 log U1) (cos, sin)(2 pi U2) are independent N(0, 1).
    About twice as fast on CPU as ``jax.random.normal`` (which inverts the error function)."""
    import jax
    import jax.numpy as jnp

    size = shape[0] * shape[1]
    half = (size + 1) // 2
    u = jax.random.uniform(key, (2, half), dtype)
    r = jnp.sqrt(-2 * jnp.log1p(-u[0]))  # 1 - U1 lies in (0, 1]
    theta = (2 * jnp.pi) * u[1]
    return jnp.concatenate([r * jnp.cos(theta), r * jnp.sin(theta)])[:size].reshape(shape)


@functools.lru_cache(maxsize=64)
def _chunk_fn(task_name: str, seq_len: int, chunk: int, dtype: str) -> Any:
    import jax
    import jax.numpy as jnp

    from symest.forward import outputs
    from symest.tasks import get_task

    task = get_task(task_name)
    jdt = jnp.float64 if dtype == "float64" else jnp.float32

    @jax.jit
    def run(weights: dict, key: Any, n_valid: Any) -> tuple[Any, Any]:
        if task.inputs == "function":
            x = jax.random.randint(key, (chunk, seq_len), 0, seq_len)
        else:
            x = box_muller(key, (chunk, seq_len), jdt)
        s = task.score(x, outputs(weights, x, jnp), jnp).astype(jdt)
        s = jnp.where(jnp.arange(chunk) < n_valid, s, 0)
        return s.sum(), (s * s).sum()

    return run


def _x64(model: Model) -> contextlib.AbstractContextManager:
    import jax

    return jax.enable_x64(True) if model.dtype == "float64" else contextlib.nullcontext()


def sample_scores(model: Model, samples: int, seed: int = 0, *, progress: bool = False,
                  chunk: int = CHUNK) -> tuple[float, float]:
    """Sum of per-sample scores and of their squares over ``samples`` seeded inputs."""
    import jax
    import jax.numpy as jnp

    if samples <= 0:
        raise BudgetError(f"sample count must be positive, got {samples}")
    chunk = min(chunk, 1 << max(int(samples - 1).bit_length(), 4))
    n_chunks = -(-samples // chunk)
    with _x64(model):
        run = _chunk_fn(model.task.name, model.seq_len, chunk, model.dtype)
        jdt = jnp.float64 if model.dtype == "float64" else jnp.float32
        weights = {k: jnp.asarray(v, dtype=jdt) for k, v in model.weights.items()}
        base = jax.random.key(seed)
        total = total_sq = 0.0
        bar = None
        if progress and n_chunks > 8:
            from tqdm import tqdm

            bar = tqdm(total=samples, unit="samples", unit_scale=True, leave=False)
        for i in range(n_chunks):
            n_valid = min(chunk, samples - i * chunk)
            s, s2 = run(weights, jax.random.fold_in(base, i), n_valid)
            total += float(s)
            total_sq += float(s2)
            if bar is not None:
                bar.update(n_valid)
        if bar is not None:
            bar.close()
    return total, total_sq


def sample_estimate(model: Model, samples: int, seed: int = 0, *, progress: bool = False) -> Estimate:
    """Seeded sampling estimate of the model's accuracy (RMSE for median models)."""
    t0 = time.perf_counter()
    total, total_sq = sample_scores(model, samples, seed, progress=progress)
    mean = total / samples
    if model.task.metric == "accuracy":
        value, stderr = mean, math.sqrt(max(mean * (1 - mean), 0.0) / samples)
    else:
        var = max(total_sq / samples - mean * mean, 0.0)
        value = math.sqrt(mean)
        stderr = math.sqrt(var / samples) / (2 * value) if value > 0 else 0.0
    return Estimate(model.name, "sampling", model.task.metric, value, "statistical",
                    samples * per_sample_flops(model), stderr=stderr, samples=samples,
                    seconds=time.perf_counter() - t0, details={"seed": seed})


def samples_for_flops(model: Model, flops: float) -> int:
    """How many samples a FLOP budget buys (at least one sample's worth is required)."""
    per = per_sample_flops(model)
    if flops < per:
        raise BudgetError(f"budget {flops:.3g} FLOPs is below one sample's cost ({per} FLOPs) for {model.name}")
    return int(flops // per)


def numpy_scores(model: Model, x: np.ndarray) -> np.ndarray:
    """Per-sample scores for given inputs, via the NumPy forward (float64)."""
    from symest.forward import forward_numpy

    return np.asarray(model.task.score(x, forward_numpy(model, x), np))
