"""The exact estimator: cone sums agree with large independent sampling, intervals are sound,
and the answer is invariant under the network's reparametrization symmetries."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symest import BudgetError, MethodError, estimate, get_task, make_model, manifest
from symest.estimators.sampling import sample_estimate
from symest.handcrafted import handcrafted_2, handcrafted_3
from tests.test_forward import random_rnn, random_transformer

BIG = 1 << 22


def agree(exact, sampled, k=5.0):
    """|exact - sampled| within k standard errors of the sample plus the exact method's bound."""
    return abs(exact.value - sampled.value) <= k * sampled.stderr + (exact.error_bound or 0.0)


def test_handcrafted_2_is_exactly_one():
    e = estimate(handcrafted_2(), "exact")
    assert e.kind == "exact" and abs(e.value - 1.0) <= e.error_bound


def test_handcrafted_3_matches_large_sampling():
    m = handcrafted_3()
    e = estimate(m, "exact")
    s = sample_estimate(m, BIG, seed=1)
    assert e.kind == "exact" and agree(e, s), (e.value, s.value, s.stderr)
    assert e.value >= 0.9999  # ARC: "99.99%" at lambda = 100


@settings(max_examples=6)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.sampled_from([2, 3]),
       st.sampled_from(["2nd_argmax", "argmax"]))
def test_random_small_rnns_agree_with_sampling(seed, d, n, task):
    m = random_rnn(np.random.default_rng(seed), d, n, task)
    e = estimate(m, "exact")
    s = sample_estimate(m, BIG, seed=seed % 1000)
    assert agree(e, s), (e.value, s.value, s.stderr)


@pytest.mark.slow
def test_four_dimensional_and_argmedian_agree_with_sampling():
    rng = np.random.default_rng(5)
    for m in (random_rnn(rng, 3, 4), random_rnn(rng, 2, 3, "argmedian")):
        e = estimate(m, "exact")
        s = sample_estimate(m, BIG, seed=2)
        assert agree(e, s), (m.seq_len, e.value, e.error_bound, s.value, s.stderr)


def _zoo_small():
    """Bundled 2nd_argmax models the exact method resolves quickly: n <= 3 (2-D/3-D, d <= 8), and
    n = 4 with d <= 3 (LP path, ~20 s). Larger n = 4 models need minutes of LPs."""
    return [r for r in manifest() if r["task"] == "2nd_argmax"
            and ((r["seq_len"] <= 3 and r["hidden"] <= 8) or (r["seq_len"] == 4 and r["hidden"] <= 3))]


@pytest.mark.parametrize("row", _zoo_small(), ids=lambda r: r["name"])
def test_bundled_models_agree_with_manifest_sampling(row):
    """The manifest's accuracy was measured on >= 2^22 fresh samples; exact must be within 5 s.e."""
    from symest import load

    e = estimate(load(row["name"]), "exact")
    assert abs(e.value - row["value"]) <= 5 * row["stderr"] + e.error_bound, (e.value, row)


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.3, 0.7])
def test_truncated_budget_gives_sound_interval(fraction):
    m = random_rnn(np.random.default_rng(3), 4, 3)
    full = estimate(m, "exact")
    part = estimate(m, "exact", budget=fraction * full.flops)
    if part.kind == "bounds":
        assert part.lower - full.error_bound <= full.value <= part.upper + full.error_bound
        assert part.upper - part.lower > 0
    else:
        assert abs(part.value - full.value) <= full.error_bound


def test_intervals_shrink_with_budget():
    m = random_rnn(np.random.default_rng(4), 4, 3)
    full = estimate(m, "exact").flops
    widths = [(e.upper - e.lower) if e.kind == "bounds" else 0.0
              for e in (estimate(m, "exact", budget=f * full) for f in (0.05, 0.3, 0.9, 1.5))]
    assert widths == sorted(widths, reverse=True) and widths[-1] == 0.0


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=8)
def test_invariant_under_rescaling_and_permutation(seed):
    rng = np.random.default_rng(seed)
    m = random_rnn(rng, 3, 3)
    c, p = np.exp(rng.uniform(-1, 1, 3)), rng.permutation(3)
    w = {"rnn.weight_ih_l0": (m.W_hi * c[:, None])[p], "rnn.weight_hh_l0": (m.W_hh * c[:, None] / c[None, :])[p][:, p],
         "linear.weight": (m.W_oh / c[None, :])[:, p]}
    a, b = estimate(m, "exact"), estimate(m.with_weights(w), "exact")
    assert abs(a.value - b.value) <= 1e-9


def test_refusals():
    rng = np.random.default_rng(0)
    with pytest.raises(MethodError, match="bias"):
        estimate(random_rnn(rng, 2, 3, bias=True), "exact")
    with pytest.raises(BudgetError):
        estimate(handcrafted_3(), "exact", budget=10)


def test_degenerate_weights_are_handled():
    """All-zero rows and duplicated neurons: regions with zero rows, duplicate constraints."""
    w = {"rnn.weight_ih_l0": np.array([[1.0], [1.0], [0.0]]),
         "rnn.weight_hh_l0": np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]),
         "linear.weight": np.array([[1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])}
    m = make_model(get_task("2nd_argmax"), 3, w)
    e = estimate(m, "exact")
    s = sample_estimate(m, BIG, seed=3)
    assert agree(e, s), (e.value, s.value, s.stderr)


def test_longest_cycle_enumeration_matches_sampling():
    m = random_transformer(np.random.default_rng(0), 4, 4)
    e = estimate(m, "exact")
    assert e.kind == "exact" and e.details["inputs"] == 4**4
    s = sample_estimate(m, 1 << 20, seed=0)
    # float32 sampling vs float64 enumeration: near-ties aside, within 5 s.e.
    assert abs(e.value - s.value) <= 5 * s.stderr + 1e-9


@pytest.mark.parametrize("n, d", [(2, 2), (2, 4), (3, 3)])
def test_median_rmse_matches_sampling(n, d):
    m = random_rnn(np.random.default_rng(10 + d), d, n, "median")
    e = estimate(m, "exact")
    s = sample_estimate(m, BIG, seed=4)
    assert e.metric == "rmse" and e.kind == "exact"
    assert abs(e.value - s.value) <= 5 * s.stderr + e.error_bound, (e.value, s.value, s.stderr)


def test_median_beyond_three_is_refused_clearly():
    with pytest.raises(MethodError, match="sequence length <= 3"):
        estimate(random_rnn(np.random.default_rng(0), 2, 5, "median"), "exact")
