"""proofs/m16_10.py: the running-max circuit finder on planted, handcrafted, random and zoo weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import symest
from symest.derivation import load_proof, run_proof
from symest.ledger import Ledger, audit, iter_steps

PROOF = Path(__file__).resolve().parent.parent / "proofs" / "m16_10.py"
M = load_proof(PROOF)
D, N = 16, 10

# A distributed A: three carriers whose block keeps every column sum 1 (so their sum integrates B)
# and that share B's deposit 0.2 / 0.5 / 0.3; all entries >= 0, so no carrier ever clips.
BLOCK = np.array([[0.5, 0.2, 0.0], [0.3, 0.6, 0.5], [0.2, 0.2, 0.5]])
DEPOSIT = np.array([0.2, 0.5, 0.3])


def planted(seed: int, *, self_b: float = -1.0, noise: float = 0.0, perm: bool = True, scale: bool = True):
    """A 16 x 10 model with an exact running-max circuit on neurons 0 (B), 1-3 (carriers), 4 (C,
    lag 0) and 5 (D, lag 1); neurons 6-15 are random and read anything but feed nothing in the
    circuit. Then neurons are permuted and positively rescaled. Returns (model, where) with
    where[i] = the new index of old neuron i."""
    rng = np.random.default_rng(seed)
    wi, wh = np.zeros(D), np.zeros((D, D))
    b, S, c, d = 0, [1, 2, 3], 4, 5
    wi[b], wh[b, b], wh[b, S] = 1.0, self_b, -1.0
    wh[np.ix_(S, S)] = BLOCK + noise * rng.standard_normal((3, 3))
    wh[S, b] = DEPOSIT
    wi[c], wh[c, b], wh[c, S] = -1.0, 1.0, 1.0
    wi[d], wh[d, S] = -1.0, 1.0
    wi[6:] = rng.standard_normal(D - 6)
    wh[6:] = 0.5 * rng.standard_normal((D - 6, D))
    wo = rng.standard_normal((N, D))
    f = np.exp(rng.uniform(-2, 2, D)) if scale else np.ones(D)
    wi, wh, wo = wi * f, wh * f[:, None] / f[None, :], wo / f[None, :]
    p = rng.permutation(D) if perm else np.arange(D)  # new neuron i = old neuron p[i]
    wi, wh, wo = wi[p], wh[np.ix_(p, p)], wo[:, p]
    weights = {"rnn.weight_ih_l0": wi[:, None], "rnn.weight_hh_l0": wh, "linear.weight": wo}
    model = symest.make_model(symest.get_task("2nd_argmax"), N, {k: v.astype(np.float32) for k, v in weights.items()},
                              name=f"planted_{seed}")
    return model, np.argsort(p)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_a_planted_circuit_at_its_permuted_indices(seed):
    model, where = planted(seed)
    circuits = M.find_circuits(model)
    assert len(circuits) == 1
    ci = circuits[0]
    assert ci.b == where[0]
    assert sorted(ci.carriers) == sorted(where[[1, 2, 3]])
    assert sorted((r.neuron, r.lag) for r in ci.readers) == sorted([(where[4], 0), (where[5], 1)])
    assert ci.clean
    s = M.summary(model, samples=1 << 12)["circuits"][0]
    assert min(v["bits"] for v in s["identities"].values()) >= 19  # exact up to float32 rounding
    for key in ("B", "a", "a+B", f"reader {where[4]}", f"reader {where[5]}"):
        assert s["errors"][key]["relative"] < 1e-5, key
    assert sum(s["errors"]["carrier share"].values()) == pytest.approx(1.0)
    assert max(s["errors"]["carrier clips"].values()) == 0.0


def test_planted_derivation_verifies_and_claims_every_identity():
    model, where = planted(0)
    est, led = M.derive(model).run(model, samples=1 << 12)
    assert led.valid and est.kind == "approximate" and est.value == 0.5
    rep = next(s for s in iter_steps(led.steps) if s.kind == "reparametrize")
    assert rep.verified
    assert "fail outright" not in led.to_markdown()
    checks = [s for s in iter_steps(led.steps) if s.kind == "check"]
    assert checks and all(s.verified for s in checks)
    assert any(f"B={where[0]} subtracts itself" in s.name for s in checks)
    assert audit(json.loads(led.dumps()), model).ok


def test_a_broken_or_noisy_circuit_is_rejected_or_measured():
    # B's self-weight 0.7 instead of 1: no running max (ideal identity off by 30%), no circuit
    model, _ = planted(0, self_b=-0.7)
    assert M.find_circuits(model) == []
    est, led = M.derive(model).run(model)
    assert led.valid and est.value == 0.5 and "No running-max circuit" in led.to_markdown()
    # a noisy carrier block: still found, but its column identities hold only to the noise level
    model, where = planted(0, noise=2.0**-7)
    (ci,) = M.find_circuits(model)
    assert ci.b == where[0]
    ids = M.summary(model, samples=1 << 10)["circuits"][0]["identities"]
    cols = [v["bits"] for k, v in ids.items() if "keeps carrier" in k]
    assert len(cols) == 3 and all(3 <= k <= 9 for k in cols)


@pytest.mark.parametrize("seed", range(5))
def test_random_weights_have_no_circuit(seed):
    rng = np.random.default_rng(100 + seed)
    weights = {"rnn.weight_ih_l0": rng.standard_normal((D, 1)), "rnn.weight_hh_l0": rng.standard_normal((D, D)),
               "linear.weight": rng.standard_normal((N, D))}
    model = symest.make_model(symest.get_task("2nd_argmax"), N, weights, name="random")
    assert M.find_circuits(model) == []


def test_handcrafted_10_single_neuron_a():
    m = symest.handcrafted_10()
    (ci,) = M.find_circuits(m)
    assert (ci.b, ci.carriers) == (19, (20,)) and ci.clean
    assert sorted((r.neuron, r.lag) for r in ci.readers) == [(18, 1), (21, 0)]
    assert sorted(ci.partial) == list(range(10, 18))  # read A, B and more: not isolated


# -- the bundled zoo model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo():
    model = symest.load(M.MODEL)
    return model, M.summary(model)


def test_zoo_model_has_an_approximate_circuit_with_a_distributed_a(zoo):
    model, s = zoo
    (c,) = s["circuits"]
    wi, wh = model.W_hi[:, 0], model.W_hh
    assert wi[c["B"]] > 0 and abs(wh[c["B"], c["B"]] + 1) < 1 / 8
    # A is spread over several input-free carriers, none of which is a running max alone
    assert len(c["carriers"]) >= 3
    assert all(abs(wi[j]) < 2.0**-3 * abs(wi[c["B"]]) for j in c["carriers"])
    assert max(c["errors"]["carrier share"].values()) < 0.6
    assert not c["clean"]
    assert sorted(r["lag"] for r in c["readers"]) == [0, 1]
    e = c["errors"]
    assert e["B"]["relative"] < 0.1 and e["a"]["relative"] < 0.15 and e["a+B"]["relative"] < 0.15
    assert all(e[f"reader {r['neuron']}"]["relative"] < 0.15 for r in c["readers"])
    assert 0 < s["fraction"] < 1 and s["unexplained"]
    # the module docstring states what the finder finds
    doc = M.__doc__
    assert f"**B = neuron {c['B']}**" in doc
    assert str(set(c["carriers"])) in doc
    assert all(f"neuron {r['neuron']} ~" in doc for r in c["readers"])


def test_zoo_ledger_verifies_audits_and_reports_the_circuit(zoo):
    model, s = zoo
    est, led = run_proof(PROOF, model=model, samples=1 << 14, seed=0)
    assert led.valid and est.kind == "approximate" and est.value == 0.5
    md = led.to_markdown()
    c = s["circuits"][0]
    assert f"Circuit B={c['B']} (approximate)" in md and "A has no neuron of its own" in md
    assert 100 < led.explanation_bits < 400
    res = audit(Ledger.from_json(led.dumps()), model)
    assert res.ok and res.same_model
    noisy = model.with_weights({k: v + 0.05 * np.random.default_rng(1).standard_normal(v.shape)
                                for k, v in model.weights.items()}, name="noisy")
    assert audit(json.loads(led.dumps()), noisy).failed  # the claims are about these weights


def test_zoo_finding_does_not_depend_on_units_or_order(zoo):
    model, s = zoo
    rng = np.random.default_rng(7)
    f, p = np.exp(rng.uniform(-1, 1, D)), rng.permutation(D)
    wi, wh, wo = (model.W_hi[:, 0].astype(np.float64), model.W_hh.astype(np.float64),
                  model.W_oh.astype(np.float64))
    wi, wh, wo = (wi * f)[p], (wh * f[:, None] / f[None, :])[np.ix_(p, p)], (wo / f[None, :])[:, p]
    other = model.with_weights({"rnn.weight_ih_l0": wi[:, None], "rnn.weight_hh_l0": wh, "linear.weight": wo},
                               name="moved")
    where = np.argsort(p)
    (c,) = s["circuits"]
    (ci,) = M.find_circuits(other)
    assert ci.b == where[c["B"]] and sorted(ci.carriers) == sorted(where[c["carriers"]])
    assert sorted(r.neuron for r in ci.readers) == sorted(where[[r["neuron"] for r in c["readers"]]])
    e = M.measure(other, ci)
    assert e["a"]["rms"] == pytest.approx(c["errors"]["a"]["rms"], rel=1e-6)
