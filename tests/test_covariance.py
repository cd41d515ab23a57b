"""Covariance (moment) propagation: exact pieces against Monte Carlo and closed forms, the
estimate against sampling truth, and its FLOP count.

Monte Carlo tolerances are 5 standard errors of the sample mean of the relevant products (the
standard errors are estimated from the same samples), plus 1e-6 for the quadratures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import multivariate_normal

import symest
from symest.estimators import covariance as cv
from symest.estimators.sampling import numpy_scores
from symest.forward import forward_numpy
from symest.graph import compile_model
from symest.model import make_model
from symest.tasks import get_task

FIX = Path(__file__).parent / "fixtures"


def rand_model(d: int, n: int, seed: int, *, task: str = "2nd_argmax", bias: float = 0.0):
    rng = np.random.default_rng(seed)
    k = get_task(task).out_size(n)
    w = {"rnn.weight_ih_l0": rng.normal(size=(d, 1)), "rnn.weight_hh_l0": rng.normal(size=(d, d)) / np.sqrt(d),
         "linear.weight": rng.normal(size=(k, d))}
    if bias:
        w.update({"rnn.bias_ih_l0": np.full(d, bias), "rnn.bias_hh_l0": rng.normal(size=d) * 0.1,
                  "linear.bias": rng.normal(size=k)})
    return make_model(get_task(task), n, w, name=f"rand_{d}_{n}_{seed}", dtype="float64")


def mc_truth(model, samples: int = 200_000, seed: int = 0) -> tuple[float, float]:
    """(value, standard error) by NumPy Monte Carlo: accuracy, or RMSE for median models."""
    x = np.random.default_rng(seed).normal(size=(samples, model.seq_len))
    s = numpy_scores(model, x).astype(np.float64)
    if model.task.metric == "accuracy":
        p = s.mean()
        return p, math.sqrt(p * (1 - p) / samples)
    rmse = math.sqrt(s.mean())
    return rmse, s.std() / math.sqrt(samples) / (2 * rmse)


def assert_mc_close(est, samples, label, k=5.0, extra=1e-6):
    m = samples.mean(axis=0)
    se = samples.std(axis=0) / math.sqrt(len(samples))
    bad = np.abs(est - m) > k * se + extra
    where = np.argwhere(bad)[:5].tolist()
    assert not bad.any(), f"{label}: {where} est {est[bad][:5]} mc {m[bad][:5]} se {se[bad][:5]}"


# ---- (b) the bivariate ReLU formula ----------------------------------------------------------
def test_bvn_cdf_closed_forms_and_limits():
    a = np.array([0.0, 0.0, 0.0, 0.3, -1.2, 2.0, 0.5, 0.5])
    b = np.array([0.0, 0.0, 0.0, -0.7, 0.4, 1.0, -0.5, 0.4])
    r = np.array([0.3, -0.95, 0.99, 1.0, -1.0, 0.0, -0.999999, 0.93])
    got = cv.bvn_cdf(np, a, b, r, 20)
    ref = [0.25 + math.asin(v) / (2 * math.pi) for v in r[:3]]
    ref += [ndtr(min(a[3], b[3])), max(0.0, ndtr(a[4]) + ndtr(b[4]) - 1), ndtr(a[5]) * ndtr(b[5])]
    ref += [multivariate_normal(cov=[[1, rr], [rr, 1]]).cdf([aa, bb]) for aa, bb, rr in zip(a[6:], b[6:], r[6:],
                                                                                             strict=True)]
    np.testing.assert_allclose(got, ref, atol=2e-6)
    np.testing.assert_allclose(got[:6], ref[:6], atol=1e-13)
    # the default 6-node rule is within 1e-6 of the 20-node one
    rng = np.random.default_rng(0)
    A, B, R = rng.normal(size=(3, 2000)) * [[2], [2], [0.6]]
    R = np.tanh(R * 2)
    assert np.max(np.abs(cv.bvn_cdf(np, A, B, R, 6) - cv.bvn_cdf(np, A, B, R, 20))) < 1.2e-6


def test_relu_pair_moment_arc_cosine_kernel():
    r = np.linspace(-1, 1, 41)
    sx, sy = 1.7, 0.6
    got = cv.relu_pair_moment(np, np.zeros_like(r), np.zeros_like(r), np.full_like(r, sx), np.full_like(r, sy), r, 20)
    c = np.sqrt(1 - r * r)
    kernel = sx * sy * (c + (np.pi - np.arccos(r)) * r) / (2 * np.pi)
    np.testing.assert_allclose(got, kernel, atol=1e-12)


def test_relu_pair_moment_against_monte_carlo():
    rng = np.random.default_rng(1)
    N = 400_000
    for mx, my, sx, sy, r in [(0.3, -0.5, 1.0, 2.0, 0.6), (-1.0, 2.0, 0.5, 1.5, -0.97), (1.2, 0.8, 1.0, 1.0, 0.999),
                              (-2.0, -1.0, 1.0, 0.7, 0.2)]:
        z = rng.standard_normal((N, 2))
        X = mx + sx * z[:, 0]
        Y = my + sy * (r * z[:, 0] + math.sqrt(1 - r * r) * z[:, 1])
        prod = (np.maximum(X, 0) * np.maximum(Y, 0))[:, None]
        est = cv.relu_pair_moment(np, np.array(mx), np.array(my), np.array(sx), np.array(sy), np.array(r))
        assert_mc_close(np.atleast_1d(est), prod, f"E[relu relu] at {(mx, my, sx, sy, r)}")


# ---- (a) exactness of the first step and in the linear limit ----------------------------------
def test_first_step_moments_exact_against_monte_carlo():
    """Under a Gaussian input (here a case Gaussian: correlated, non-zero mean) the moments of
    h_0 = ReLU(W_hi x_0 + b), including Cov(x, h_0), are exact: check against 300k samples."""
    n, d = 4, 5
    rng = np.random.default_rng(2)
    tab = cv.case_table("2nd_argmax", n, "fine")
    mean_x, cov_x = tab["mean"][3], tab["cov"][3]
    w_hi = rng.normal(size=d)
    b = rng.normal(size=d) * 0.5
    mu_z = mean_x[0] * w_hi + b
    cov_z = cov_x[0, 0] * np.outer(w_hi, w_hi) + 1e-3 * np.eye(d)  # a little independent noise
    mean_h, cov_h, gain = cv.relu_moments(np, mu_z[None], cov_z[None])
    L = np.linalg.cholesky(np.block([[cov_x, cov_x[:, :1] * w_hi], [(cov_x[:, :1] * w_hi).T, cov_z]]))
    N = 300_000
    s = np.concatenate([mean_x, mu_z]) + rng.standard_normal((N, n + d)) @ L.T
    x, h = s[:, :n], np.maximum(s[:, n:], 0)
    assert_mc_close(mean_h[0], h, "E[h]")
    mh = h.mean(axis=0)
    hc = h - mh
    assert_mc_close(cov_h[0].ravel(), (hc[:, :, None] * hc[:, None, :]).reshape(N, -1), "Cov(h, h)")
    cov_xz = cov_x[:, :1] * w_hi
    assert_mc_close((cov_xz * gain[0]).ravel(), ((x - mean_x)[:, :, None] * hc[:, None, :]).reshape(N, -1),
                    "Cov(x, h) (Stein)")


def test_propagation_exact_in_the_linear_limit():
    """With large positive biases no ReLU ever clips, the network is affine, and the propagated
    output Gaussian equals the affine image of the input Gaussian (graph.linear_maps)."""
    model = rand_model(3, 4, 5, task="median", bias=60.0)
    piece = compile_model(model).linear_maps(np.ones((4, 3)))
    w, tab, _, _ = cv._inputs(model, "coarse", "plain")
    mu_y, cov_yy, cov_xy = cv.propagate(np, w, tab["mean"], tab["cov"])
    for c in range(len(mu_y)):
        m, S = tab["mean"][c], tab["cov"][c]
        np.testing.assert_allclose(mu_y[c], piece.L @ m + piece.l, rtol=1e-10)
        np.testing.assert_allclose(cov_yy[c], piece.L @ S @ piece.L.T, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(cov_xy[c], S @ piece.L.T, rtol=1e-9, atol=1e-9)


# ---- case tables ------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "k", "r", "split"), [(4, 1, 1, True), (4, 1, 1, False), (5, 1, 2, True),
                                                    (4, 2, 1, False), (4, 2, 1, True), (3, 1, 0, True)])
def test_block_moments_against_monte_carlo(n, k, r, split):
    mean, cov = cv.block_moments(n, k, r, split)
    x = np.random.default_rng(3).standard_normal((600_000, n))
    order = np.argsort(-x, axis=1)
    rows = np.arange(len(x))[:, None]
    # canonical coordinates: block = ranks r..r+k-1 (descending), above = ranks < r, below = the rest
    block = x[rows, order[:, r:r + k]]
    above, below = x[rows, order[:, :r]], x[rows, order[:, r + k:]]
    if split:  # within "above"/"below" the positions are a uniformly random order: shuffle them
        rng = np.random.default_rng(4)
        above = rng.permuted(above, axis=1)
        below = rng.permuted(below, axis=1)
        canon = np.concatenate([block, above, below], axis=1)
    else:
        others = rng_perm(np.concatenate([above, below], axis=1))
        canon = np.concatenate([block, others], axis=1)
    assert_mc_close(mean, canon, "case mean")
    cc = canon - canon.mean(axis=0)
    assert_mc_close(cov.ravel(), (cc[:, :, None] * cc[:, None, :]).reshape(len(x), -1), "case covariance")


def rng_perm(a):
    return np.random.default_rng(5).permuted(a, axis=1)


def test_case_table_known_values():
    mean, cov = cv.block_moments(2, 1, 1, True)  # 2nd largest of two = the min: E = -1/sqrt(pi)
    np.testing.assert_allclose(mean, [-1 / math.sqrt(math.pi), 1 / math.sqrt(math.pi)], atol=1e-10)
    np.testing.assert_allclose(cov[0, 1], 1 / math.pi, atol=1e-10)
    tab = cv.case_table("2nd_argmax", 4, "fine")
    assert len(tab["weight"]) == 12 and math.isclose(tab["weight"].sum(), 1.0)
    assert np.allclose(tab["mean"].sum(axis=0), 0.0, atol=1e-9)  # the cases average back to N(0, I)
    second = (tab["cov"] + tab["mean"][:, :, None] * tab["mean"][:, None, :]).mean(axis=0)
    np.testing.assert_allclose(second, np.eye(4), atol=1e-9)
    assert cv.count_cases("2nd_argmax", 10, "fine") == 90 and cv.count_cases("2nd_argmax", 10, "coarse") == 10
    assert cv.count_cases("median", 4, "coarse") == 12 and len(cv.case_table("median", 4, "fine")["weight"]) == 24


# ---- orthant probabilities -------------------------------------------------------------------
def test_orthant_probabilities():
    rng = np.random.default_rng(6)
    # m = 3, zero mean: closed form 1/8 + (asin r12 + asin r13 + asin r23) / (4 pi); ME within 0.02
    errs = []
    for _ in range(20):
        A = rng.normal(size=(3, 3))
        S = A @ A.T
        s = np.sqrt(np.diag(S))
        R = S / np.outer(s, s)
        exact = 0.125 + (math.asin(R[0, 1]) + math.asin(R[0, 2]) + math.asin(R[1, 2])) / (4 * math.pi)
        errs.append(float(cv.orthant_prob(np, np.zeros((1, 3)), S[None])[0]) - exact)
    assert max(abs(e) for e in errs) < 0.02
    # m = 2 is exact, m = 1 is Phi
    S = np.array([[2.0, -0.6], [-0.6, 0.5]])
    mu = np.array([0.4, -0.2])
    ref = multivariate_normal(mean=-mu, cov=S).cdf([0, 0])
    assert abs(float(cv.orthant_prob(np, mu[None], S[None])[0]) - ref) < 1e-6
    assert abs(float(cv.orthant_prob(np, mu[None, :1], S[None, :1, :1])[0]) - ndtr(0.4 / math.sqrt(2))) < 1e-14
    # logit-difference-like Gaussians in 9 dimensions: ME within 0.01 of Genz's QMC
    E = np.hstack([np.ones((9, 1)), -np.eye(9)])
    for _ in range(3):
        A = rng.normal(size=(10, 10))
        S = E @ (A @ A.T + np.eye(10)) @ E.T
        mu = E @ rng.normal(size=10) * 2
        ref = multivariate_normal(mean=-mu, cov=S, seed=0, abseps=1e-4).cdf(np.zeros(9))
        assert abs(float(cv.orthant_prob(np, mu[None], S[None])[0]) - ref) < 0.01


# ---- (c) the estimate against sampling truth -------------------------------------------------
def test_handcrafted_2_exact_with_conditional_scoring():
    """On handcrafted_2 the logits are exactly +-(x_1 - x_0) and the closure keeps linear identities,
    so conditional scoring is exact (1.0 up to rounding: the final correlation is 1 - O(1e-11)
    and Phi2 moves like sqrt(1 - r) there); plain scoring gives the Gaussian approximation of the
    case's x_0 - x_1: Phi(E / sd) with E = 2/sqrt(pi), Var = 2 - 4/pi."""
    model = symest.handcrafted_2()
    est = symest.estimate(model, "covariance")
    assert est.kind == "approximate" and est.method == "covariance"
    assert abs(est.value - 1.0) < 1e-6
    plain = symest.estimate(model, "covariance", scoring="plain")
    assert abs(plain.value - ndtr((2 / math.sqrt(math.pi)) / math.sqrt(2 - 4 / math.pi))) < 1e-8


@pytest.mark.parametrize("make", [lambda: rand_model(4, 3, 0), lambda: rand_model(4, 3, 1), lambda: rand_model(6, 4, 2),
                                  lambda: symest.load(FIX / "rnn_2nd_argmax_4_3.pth"),
                                  lambda: symest.load(FIX / "rnn_bias_2nd_argmax_3_3.pth")],
                         ids=["r43a", "r43b", "r64", "fixture43", "fixture_bias33"])
def test_estimate_near_sampling_truth(make):
    """An approximation: within 0.15 of the truth on small random models (observed: <= 0.07)."""
    model = make()
    truth, se = mc_truth(model)
    for cases in ("fine", "coarse"):
        est = symest.estimate(model, "covariance", cases=cases)
        assert 0.0 <= est.value <= 1.0
        assert abs(est.value - truth) < 0.15, (cases, est.value, truth, se)


@pytest.mark.parametrize(("task", "d", "n"),
                         [("argmax", 4, 3), ("argmedian", 5, 5), ("median", 3, 4), ("median", 4, 5)])
def test_other_tasks_near_sampling_truth(task, d, n):
    model = rand_model(d, n, 0, task=task)
    truth, _ = mc_truth(model, 100_000)
    for cases in ("fine", "coarse"):
        est = symest.estimate(model, "covariance", cases=cases)
        assert abs(est.value - truth) < (0.15 * truth if task == "median" else 0.15), (cases, est.value, truth)


def test_median_rmse_near_sampling_truth():
    for model in (symest.load(FIX / "rnn_median_2_3.pth"), rand_model(3, 4, 7, task="median")):
        truth, _ = mc_truth(model)
        est = symest.estimate(model, "covariance")
        assert est.metric == "rmse" and est.value > 0
        assert abs(est.value - truth) < 0.15 * truth, (model.name, est.value, truth)


def test_median_exact_for_identity_like_model():
    """A median-3 'model' whose output is exactly x_2 = ReLU(x_2) - ReLU(-x_2): the closure keeps
    this linear identity (means add, Stein's lemma gives Cov(x, y) = Cov(x, x_2)), and the case
    tables match the true case moments, so the estimate is the exact RMSE of x_2 as a median
    predictor (checked against 400k samples)."""
    w = {"rnn.weight_ih_l0": np.array([[1.0], [-1.0]]), "rnn.weight_hh_l0": np.zeros((2, 2)),
         "linear.weight": np.array([[1.0, -1.0]])}
    model = make_model(get_task("median"), 3, w, name="last_input", dtype="float64")
    est = symest.estimate(model, "covariance")
    truth, se = mc_truth(model, 400_000)
    assert abs(est.value - truth) < 5 * se + 1e-6


# ---- (d) FLOPs ---------------------------------------------------------------------------------
def test_flop_count_is_cases_times_one_case():
    """flops_for counts one case and multiplies: equal to a full flopscope count."""
    from symest.flops import count

    for model in (rand_model(4, 3, 0), symest.load(FIX / "rnn_bias_2nd_argmax_3_3.pth"),
                  rand_model(3, 4, 1, task="median")):
        for cases in ("fine", "coarse"):
            for scoring in ("conditional", "plain"):
                w, tab, static, _ = cv._inputs(model, cases, scoring)
                full = count(lambda fnp, w_, t_, st=static: cv._score(fnp, w_, t_, st, 6), w, tab)
                assert cv.flops_for(model, cases, 6, scoring) == full > 0


def test_flops_positive_deterministic_and_cheap():
    model = rand_model(4, 3, 0)
    a = symest.estimate(model, "covariance")
    cv._FLOP_CACHE.clear()
    b = symest.estimate(model, "covariance")
    assert a.flops == b.flops > 0 and a.value == b.value
    c = symest.estimate(rand_model(4, 3, 9), "covariance")  # same shapes, other weights: same count
    assert c.flops == a.flops
    assert symest.estimate(model, "covariance", cases="coarse").flops < a.flops
    big = rand_model(16, 10, 3)
    per_case = cv.flops_for(big, "coarse") / 10
    assert per_case < 5e6
    with pytest.raises(symest.BudgetError):
        symest.estimate(big, "covariance", budget=1e4)
    assert symest.estimate(big, "covariance", budget=1e8).details["cases"] == "coarse"


def test_rejects_unsupported():
    with pytest.raises(symest.MethodError):
        symest.estimate(symest.load(FIX / "transformer_longest_cycle_4_4.pth"), "covariance")
    w = {"rnn.weight_ih_l0": np.ones((2, 1)), "rnn.weight_hh_l0": np.eye(2), "linear.weight": np.ones((3, 2))}
    with pytest.raises(symest.MethodError):
        symest.estimate(make_model(get_task("argoutlier"), 3, w), "covariance")


def test_single_step_model_is_exact():
    """n = 1 (median of one input = x_0, one case = all of N(0, 1)): a single ReLU layer on an
    exactly Gaussian input, so the output moments and the MSE are exact."""
    w = {"rnn.weight_ih_l0": np.array([[1.0], [-2.0], [0.5]]), "rnn.weight_hh_l0": np.zeros((3, 3)),
         "linear.weight": np.array([[1.0, 0.5, -1.0]])}
    model = make_model(get_task("median"), 1, w, dtype="float64")
    est = symest.estimate(model, "covariance")
    x = np.random.default_rng(0).normal(size=(400_000, 1))
    err = forward_numpy(model, x)[:, 0] - x[:, 0]
    sq = err * err
    assert abs(est.value ** 2 - sq.mean()) < 5 * sq.std() / math.sqrt(len(sq))
