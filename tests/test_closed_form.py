"""Closed forms: equal to the exact method at the weights they were derived on, and — wherever
their stated sign conditions still hold — at nearby weights too."""

import numpy as np
import pytest

from symest import MethodError, estimate
from symest.closed_form import closed_form
from symest.handcrafted import handcrafted_2, handcrafted_3
from tests.test_forward import random_rnn


def test_handcrafted_2_closed_form_is_one():
    form = closed_form(handcrafted_2())
    assert abs(form.value - 1.0) < 1e-15
    assert "operatorname{atan}_{2}" in form.latex()


@pytest.mark.parametrize("seed", range(4))
def test_n2_closed_form_matches_exact_here_and_nearby(seed):
    rng = np.random.default_rng(seed)
    m = random_rnn(rng, 2, 2)
    form = closed_form(m)
    assert abs(form.value - estimate(m, "exact").value) < 1e-12
    checked = 0
    for _ in range(10):  # small perturbations: where the conditions hold, the formula is the accuracy
        w = {k: v + rng.normal(0, 1e-3, v.shape) for k, v in m.weights.items()}
        near = m.with_weights(w)
        if form.holds(near):
            assert abs(form.evaluate(near) - estimate(near, "exact").value) < 1e-10
            checked += 1
    assert checked > 0


def test_n3_closed_form_matches_exact():
    m = handcrafted_3(3.0)
    form = closed_form(m)
    assert abs(form.value - estimate(m, "exact").value) < 1e-12
    assert form.regions > 0 and len(form.conditions) > 0


def test_refusals():
    with pytest.raises(MethodError, match="sequence length"):
        closed_form(random_rnn(np.random.default_rng(0), 2, 4))
    # lambda = 100: float64 cannot settle some thin regions' shape, so no formula is certified
    with pytest.raises(MethodError, match="no certified closed form"):
        closed_form(handcrafted_3(100.0))
