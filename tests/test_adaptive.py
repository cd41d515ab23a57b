"""The anytime estimator: sound interval, budget kept, error falls with budget, exact at the end."""

import math

import numpy as np
import pytest

from symest import BudgetError, MethodError, estimate, get_task, make_model
from symest.bench import noisy_copy
from symest.estimators import METHODS
from symest.estimators.adaptive import adaptive_accuracy
from symest.handcrafted import handcrafted_2, handcrafted_3

BASE = handcrafted_3(lam=3)  # 97.75%; its sigma-0.05 copies lie around 85-95%
FULL = 1e9


@pytest.fixture(scope="module")
def copies():
    out = []
    for k in range(6):
        m = noisy_copy(BASE, 0.05, 0, k)
        out.append((m, estimate(m, "exact").value))
    return out


def test_registered_and_deterministic():
    estimate(BASE, "exact")  # loads the optional estimators
    assert "adaptive" in METHODS
    a, b = (estimate(BASE, "adaptive", budget=6e4) for _ in range(2))
    assert a.value == b.value and a.flops == b.flops and a.method == "adaptive"


def test_reaches_the_exact_value_when_the_budget_covers_the_tree(copies):
    for m, truth in [(BASE, estimate(BASE, "exact").value), *copies[:3]]:
        e = estimate(m, "adaptive", budget=FULL)
        assert e.kind == "exact"
        assert e.details["unresolved_pieces"] == 0
        assert abs(e.value - truth) <= 1e-12
    assert estimate(handcrafted_2(), "adaptive").value == pytest.approx(1.0, abs=1e-12)


def full_cost(m):
    return estimate(m, "adaptive", budget=FULL).flops


def test_error_falls_as_the_budget_rises(copies):
    """Budgets as fractions of what the whole tree costs (robust to changes in the cost model)."""
    cost = min(full_cost(m) for m, _ in copies)

    def rms(budget):
        return math.sqrt(np.mean([(estimate(m, "adaptive", budget=budget).value - p) ** 2 for m, p in copies]))

    low, mid, full = rms(0.25 * cost), rms(0.75 * cost), rms(FULL)
    assert low > mid > full
    assert full <= 1e-12


def test_budget_is_kept_and_interval_is_sound(copies):
    for m, truth in copies[:3]:
        cost = full_cost(m)
        for budget in np.geomspace(0.25 * cost, 1.2 * cost, 5):
            e = estimate(m, "adaptive", budget=budget)
            assert e.flops <= budget
            if e.kind == "approximate":
                assert e.lower <= truth <= e.upper
                assert e.stderr > 0 and e.details["unresolved_mass"] > 0
            else:
                assert e.kind == "exact" and abs(e.value - truth) <= 1e-12


def test_below_the_floor_is_a_budget_error():
    with pytest.raises(BudgetError, match="minimum"):
        adaptive_accuracy(BASE, budget=1e3)


def test_uses_no_input_sampling(monkeypatch):
    """ARC's operational test: no random or pseudorandom sampling of inputs."""
    import symest.estimators.sampling as sampling

    def forbidden(*a, **k):
        raise AssertionError("adaptive drew random inputs")

    monkeypatch.setattr(sampling, "sample_scores", forbidden)
    monkeypatch.setattr(np.random, "default_rng", forbidden)
    monkeypatch.setattr(np.random, "normal", forbidden)
    e = adaptive_accuracy(BASE, budget=6e4)
    assert e.kind == "approximate" and 0 <= e.value <= 1


def test_rejects_models_it_cannot_handle():
    w = dict(BASE.weights)
    w["rnn.bias_ih_l0"] = np.zeros(4)
    w["rnn.bias_hh_l0"] = np.zeros(4)
    with pytest.raises(MethodError, match="bias"):
        estimate(make_model(get_task("2nd_argmax"), 3, w), "adaptive")
    med = make_model(get_task("median"), 3, {"rnn.weight_ih_l0": np.ones((2, 1)), "rnn.weight_hh_l0": np.eye(2),
                                             "linear.weight": np.ones((1, 2))})
    with pytest.raises(MethodError, match="rank tasks"):
        estimate(med, "adaptive")


def test_argmax_and_argmedian_agree_with_exact():
    rng = np.random.default_rng(3)
    for task, n in (("argmax", 3), ("argmedian", 3), ("argmax", 2)):
        w = {"rnn.weight_ih_l0": rng.normal(size=(3, 1)), "rnn.weight_hh_l0": 0.5 * rng.normal(size=(3, 3)),
             "linear.weight": rng.normal(size=(n, 3))}
        m = make_model(get_task(task), n, w)
        assert adaptive_accuracy(m).value == pytest.approx(estimate(m, "exact").value, abs=1e-12)
