"""Residual surprise and the stratified NumPyro posterior."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

import symest
from symest.check import check_estimate, fit_strata, residual_bits, sample_outcomes
from symest.estimate import Estimate


def test_residual_is_small_for_a_correct_exact_estimate():
    rng = np.random.default_rng(0)
    p, n = 0.9995, 1 << 20
    bits = [residual_bits(p, int(rng.binomial(n, p)), n).bits for _ in range(20)]
    assert np.mean(bits) < 2.0 and max(bits) < 8.0  # chi^2_1 / (2 ln 2) on average ~0.72


def test_residual_grows_when_the_estimate_is_shifted():
    n, k = 1 << 20, (1 << 20) - 500
    p_hat = k / n
    bits = [residual_bits(p_hat + s, k, n).bits for s in (0.0, 2e-5, 1e-4, 3e-4, 1e-3)]
    assert bits[0] == pytest.approx(0.0, abs=1e-9)
    assert all(a < b for a, b in itertools.pairwise(bits))
    assert bits[-1] > 100


def test_residual_matches_binomial_formulae_and_baseline():
    n, k, q = 10_000, 9_990, 0.9985
    r = residual_bits(q, k, n)
    want = (stats.binom.logpmf(k, n, k / n) - stats.binom.logpmf(k, n, q)) / math.log(2)
    assert r.bits == pytest.approx(want, rel=1e-9) and r.model == "point"
    base = (stats.binom.logpmf(k, n, k / n) + math.log(n + 1)) / math.log(2)
    assert r.baseline_bits == pytest.approx(base, rel=1e-9)


def test_stated_uncertainty_softens_the_residual():
    n, k = 100_000, 99_000
    point = residual_bits(0.985, k, n)
    est = Estimate("m", "derivation", "accuracy", 0.985, "approximate", 0, stderr=0.005)
    beta = residual_bits(est, k, n)
    assert beta.model == "beta" and beta.bits < point.bits
    a = 0.985 * ((0.985 * 0.015) / 0.005**2 - 1)
    b = 0.015 * ((0.985 * 0.015) / 0.005**2 - 1)
    want = (stats.binom.logpmf(k, n, k / n) - stats.betabinom.logpmf(k, n, a, b)) / math.log(2)
    assert beta.bits == pytest.approx(want, rel=1e-6)


def test_residual_edge_cases():
    assert residual_bits(1.0, 100, 100).bits == 0.0
    assert math.isinf(residual_bits(1.0, 99, 100).bits)
    with pytest.raises(symest.SymestError):
        residual_bits(0.5, 11, 10)


def test_sample_outcomes_are_seeded_and_stratified():
    m = symest.load("handcrafted_2nd_argmax_3")
    a = sample_outcomes(m, 30_000, seed=3)
    b = sample_outcomes(m, 30_000, seed=3)
    assert a.correct == b.correct and np.array_equal(a.n, b.n)
    assert len(a.strata) == 6 and a.n.sum() == 30_000 and a.k.sum() == a.correct
    assert np.allclose(a.weights, 1 / 6)
    assert abs(a.n / 30_000 - 1 / 6).max() < 0.02
    with pytest.raises(symest.SymestError):
        sample_outcomes(m, 0)


@pytest.mark.slow
def test_stratified_posterior_recovers_a_known_accuracy():
    rng = np.random.default_rng(7)
    p_true = np.array([0.999, 0.985])  # two strata, like an n = 2 model (the compiled sampler is reused)
    n_s = np.full(2, 20_000)
    k_s = rng.binomial(n_s, p_true)
    overall, strata = fit_strata(n_s, k_s, seed=0)
    for p, post in zip(p_true, strata, strict=True):
        assert post.lo <= p <= post.hi
        assert post.r_hat < 1.05 and post.ess > 100
    assert overall.lo <= p_true.mean() <= overall.hi


@pytest.mark.slow
def test_check_estimate_against_a_derivation_and_a_shifted_number():
    m = symest.load("handcrafted_2nd_argmax_2")
    res = check_estimate(m, 1.0, samples=1 << 14, seed=0)
    assert res.consistent and res.residual.bits == 0.0
    assert res.overall.hi == 1.0  # no failures observed: the interval reaches 1
    js = res.to_json()
    assert js["overall"]["samples"] == 1 << 14 and len(js["strata"]) == 2
    assert "99% interval" in res.summary()
