"""Forward passes: NumPy and JAX agree; AlgZoo's reparametrization symmetries hold."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from symest import get_task, make_model
from symest.forward import forward_numpy, outputs
from symest.handcrafted import handcrafted_2, handcrafted_10


def random_rnn(rng, d, n, task="2nd_argmax", bias=False):
    t = get_task(task)
    k = t.out_size(n)
    w = {"rnn.weight_ih_l0": rng.standard_normal((d, 1)), "rnn.weight_hh_l0": rng.standard_normal((d, d)) / np.sqrt(d),
         "linear.weight": rng.standard_normal((k, d))}
    if bias:
        w |= {"rnn.bias_ih_l0": rng.standard_normal(d), "rnn.bias_hh_l0": rng.standard_normal(d),
              "linear.bias": rng.standard_normal(k)}
    return make_model(t, n, w)


def random_transformer(rng, h, n, layers=2):
    w = {"embed.weight": rng.standard_normal((n, h)), "pos_embed.weight": rng.standard_normal((n, h)),
         "unembed.weight": rng.standard_normal((n, h))}
    for i in range(layers):
        w[f"attns.{i}.in_proj_weight"] = rng.standard_normal((3 * h, h)) / np.sqrt(h)
        w[f"attns.{i}.out_proj.weight"] = rng.standard_normal((h, h)) / np.sqrt(h)
    return make_model(get_task("longest_cycle"), n, w)


def jax_forward(model, x):
    w = {k: jnp.asarray(v, jnp.float32) for k, v in model.weights.items()}
    return np.asarray(jax.jit(lambda w, x: outputs(w, x, jnp))(w, jnp.asarray(x)))


def test_numpy_and_jax_agree_rnn():
    rng = np.random.default_rng(0)
    for d, n, task, bias in [(2, 2, "2nd_argmax", False), (16, 10, "2nd_argmax", False), (8, 5, "argmedian", True),
                             (4, 3, "median", False), (32, 11, "argmax", False)]:
        m = random_rnn(rng, d, n, task, bias)
        x = rng.standard_normal((256, n)).astype(np.float32)
        ref = forward_numpy(m, x)
        got = jax_forward(m, x)
        # float32 forward vs float64: relative rounding ~1e-6 per op over n steps
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_numpy_and_jax_agree_transformer():
    rng = np.random.default_rng(1)
    m = random_transformer(rng, 4, 5)
    f = rng.integers(0, 5, size=(128, 5))
    np.testing.assert_allclose(jax_forward(m, f), forward_numpy(m, f), rtol=1e-4, atol=1e-4)


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=2, unique=True))
def test_handcrafted_2_is_always_right(xs):
    x = np.array([xs])
    assert get_task("2nd_argmax").score(x, forward_numpy(handcrafted_2(), x), np).all()


def test_handcrafted_10_logit_formula():
    """Each logit is max(0, x_i) + 2 max(0, max_{j != i} x_j) (ARC's construction)."""
    x = np.random.default_rng(2).standard_normal((50, 10))
    got = forward_numpy(handcrafted_10(), x)
    others = np.stack([np.delete(x, i, axis=1).max(1) for i in range(10)], 1)
    np.testing.assert_allclose(got, np.maximum(x, 0) + 2 * np.maximum(others, 0), atol=1e-12)


@given(st.integers(0, 2**31 - 1), st.integers(1, 6), st.integers(2, 6))
def test_positive_rescaling_and_permutation_invariance(seed, d, n):
    """ReLU is positively homogeneous: scaling neuron i's inputs by c_i > 0 and its outputs by
    1/c_i, or permuting neurons, leaves the function unchanged."""
    rng = np.random.default_rng(seed)
    m = random_rnn(rng, d, n)
    c = np.exp(rng.uniform(-2, 2, d))
    p = rng.permutation(d)
    w = {"rnn.weight_ih_l0": (m.W_hi * c[:, None])[p], "rnn.weight_hh_l0": (m.W_hh * c[:, None] / c[None, :])[p][:, p],
         "linear.weight": (m.W_oh / c[None, :])[:, p]}
    x = rng.standard_normal((64, n))
    a, b = forward_numpy(m, x), forward_numpy(m.with_weights(w), x)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(a).max())
