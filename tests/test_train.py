"""symest.train: the recipe lowers the loss, is bit-reproducible, and rejects bad sizes."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from symest._errors import BudgetError, TaskError
from symest.forward import outputs
from symest.tasks import get_task
from symest.train import (
    MAX_WARMUP,
    evaluate,
    init_weights,
    learning_rate,
    outputs_t,
    targets_t,
    train,
    train_seeds,
    warmup_steps,
)

SEQS = 300 * 256  # 300 steps of batch 256


@pytest.fixture(scope="module")
def m22_runs():
    task = get_task("2nd_argmax")
    return [train(task, 2, 2, seed=2, sequences=SEQS, batch=256) for _ in range(2)]


def test_short_run_lowers_loss(m22_runs):
    r = m22_runs[0]
    assert r.steps == 300
    assert len(r.losses) == len(r.accuracies) == 2  # chunks of 256 steps + 44
    # untrained logits are near 0, so the initial loss is about log 2; the last chunk is far below
    assert r.losses[-1] < r.losses[0] < math.log(2)
    assert r.losses[-1] < 0.5 * math.log(2)
    assert r.accuracies[-1] > 0.9
    assert r.model.n_params == 10 and r.model.task.name == "2nd_argmax"
    assert r.model.provenance["seed"] == "2" and r.model.provenance["train_sequences"] == str(SEQS)


def test_bit_reproducible(m22_runs):
    a, b = m22_runs
    for k in a.model.weights:
        assert np.array_equal(a.model.weights[k], b.model.weights[k])
    assert a.losses == b.losses


def test_other_seed_differs(m22_runs):
    c = train(get_task("2nd_argmax"), 2, 2, seed=3, sequences=SEQS, batch=256)
    assert not np.array_equal(c.model.W_hh, m22_runs[0].model.W_hh)


@pytest.mark.parametrize(
    ("task", "hidden", "seq_len", "sequences", "batch", "error"),
    [
        ("argmedian", 4, 4, 4096, 1024, TaskError),  # argmedian needs odd n
        ("2nd_argmax", 4, 1, 4096, 1024, TaskError),  # too short
        ("2nd_argmax", 0, 3, 4096, 1024, TaskError),
        ("2nd_argmax", -2, 3, 4096, 1024, TaskError),
        ("2nd_argmax", 4, 3, 0, 1024, BudgetError),
        ("2nd_argmax", 4, 3, -5, 1024, BudgetError),
        ("2nd_argmax", 4, 3, 1000, 1024, BudgetError),  # fewer sequences than one batch
        ("2nd_argmax", 4, 3, 4096, 0, BudgetError),
    ],
)
def test_bad_sizes(task, hidden, seq_len, sequences, batch, error):
    with pytest.raises(error) as info:
        train(get_task(task), hidden, seq_len, seed=0, sequences=sequences, batch=batch)
    assert "\n" not in str(info.value)


def test_schedule():
    steps = 2**20  # AlgZoo: 2^30 sequences of batch 1024
    assert warmup_steps(steps) == MAX_WARMUP
    assert warmup_steps(6400) == 100 and warmup_steps(10) == 1
    peak = 0.04 / np.sqrt(4)
    assert learning_rate(MAX_WARMUP // 2 - 1, steps, 4) == pytest.approx(peak / 2 * 0.01 ** (2 * (2**13 - 1) / steps))
    assert learning_rate(steps // 2, steps, 4) == pytest.approx(peak * 0.01)
    assert learning_rate(steps - 1, steps, 4) == pytest.approx(peak * 0.01)  # floored


@pytest.mark.parametrize(("task", "hidden", "n"), [("2nd_argmax", 3, 5), ("argmedian", 4, 7), ("median", 3, 6),
                                                   ("longest_cycle", 4, 5), ("argoutlier", 2, 4)])
def test_batch_minor_forward_and_targets_match(task, hidden, n):
    """Training's (n, B) layout computes what forward.outputs and Task.target compute."""
    t = get_task(task)
    w = init_weights(t, hidden, n, jax.random.key(1))
    key = jax.random.key(2)
    x = (jax.random.randint(key, (n, 512), 0, n) if t.inputs == "function" else jax.random.normal(key, (n, 512)))
    # jitted: one compilation is cheaper than dispatching dozens of eager ops
    ours = jax.jit(lambda w, x: (outputs_t(w, x).T, targets_t(t, x)))(w, x)
    ref = jax.jit(lambda w, x: (outputs(w, x.T, jnp), t.target(x.T, jnp)))(w, x)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ours[1], ref[1])


def test_init_matches_torch_defaults():
    w = init_weights(get_task("longest_cycle"), 8, 5, jax.random.key(0), n_layers=2)
    assert w["embed.weight"].shape == (5, 8) and w["attns.1.in_proj_weight"].shape == (24, 8)
    assert float(jnp.abs(w["attns.0.in_proj_weight"]).max()) <= np.sqrt(6 / 32)
    assert float(jnp.abs(w["unembed.weight"]).max()) <= 1 / np.sqrt(8)
    r = init_weights(get_task("median"), 16, 5, jax.random.key(0))
    assert r["linear.weight"].shape == (1, 16)
    assert all(float(jnp.abs(v).max()) <= 0.25 for v in r.values())


def test_transformer_and_vmapped_seeds_run():
    task = get_task("longest_cycle")
    rs = train_seeds(task, 2, 3, seeds=[0, 1], sequences=64 * 128, batch=128, n_layers=1)
    assert [r.model.provenance["seed"] for r in rs] == ["0", "1"]
    assert rs[0].model.n_layers == 1 and not np.array_equal(rs[0].model.weights["embed.weight"],
                                                           rs[1].model.weights["embed.weight"])


def test_evaluate_agrees_with_training_curve(m22_runs):
    acc, se = evaluate(m22_runs[0].model, 8192, seed=5, batch=4096)
    assert 0 < se < 0.01
    assert abs(acc - m22_runs[0].accuracies[-1]) < 0.02
