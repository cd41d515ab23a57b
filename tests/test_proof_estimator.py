"""proof:<path>[:<function>] estimators: parsing, path resolution, budgets, the registry and the bench."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import symest
from symest._errors import BudgetError, MethodError
from symest.estimators import estimate, known
from symest.estimators.proof import parse, resolve

ROOT = Path(symest.__file__).resolve().parent.parent
M22 = "proof:proofs/m22.py"


@pytest.fixture(scope="module")
def m22():
    return symest.load("2nd_argmax_2_2")


def test_parse():
    assert parse("proof:proofs/m43.py") == ("proofs/m43.py", "derive")
    assert parse("proof:proofs/m43.py:derive_coarse") == ("proofs/m43.py", "derive_coarse")
    with pytest.raises(MethodError):
        parse("sampling")
    with pytest.raises(MethodError):
        parse("proof:")


def test_resolve_from_repo_root_and_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repo: falls back to the repository root
    assert resolve("proofs/m22.py") == (ROOT / "proofs" / "m22.py").resolve()
    (tmp_path / "mine.py").write_text("MODEL = 'x'\n")
    assert resolve("mine.py") == (tmp_path / "mine.py").resolve()
    with pytest.raises(MethodError):
        resolve("proofs/no_such_proof.py")


def test_registry_membership():
    assert known("proof:proofs/m22.py")
    assert known("proof:proofs/m43.py:derive_coarse")
    assert not known("proof:proofs/no_such_proof.py")
    assert known("sampling") and not known("no_such_method")


def test_estimate_matches_derivation(m22):
    from symest.derivation import run_proof

    ref, _ = run_proof(ROOT / "proofs" / "m22.py", model=m22, samples=None)
    e = estimate(m22, M22, budget=None, seed=3, certify=False)
    assert e.value == pytest.approx(ref.value) and e.flops == ref.flops
    assert e.samples is None and e.method == M22
    assert estimate(m22, M22, budget=float(e.flops)).value == e.value  # cached, same answer


def test_budget_too_small(m22):
    e = estimate(m22, M22)
    with pytest.raises(BudgetError):
        estimate(m22, M22, budget=e.flops - 1)


def test_unknown_function_and_file(m22):
    with pytest.raises(symest.SymestError):
        estimate(m22, "proof:proofs/m22.py:no_such_function")
    with pytest.raises(MethodError):
        estimate(m22, "proof:proofs/no_such_proof.py")


def test_wrong_model_is_inapplicable(m22):
    from symest._errors import SymestError

    with pytest.raises(SymestError):
        estimate(m22, "proof:proofs/m43.py:derive_symmetric")


def test_bench_runs_proof_method(tmp_path):
    from symest.bench import run_bench

    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        res = run_bench(symest.load("2nd_argmax_2_2"), sigma=0.05, copies=2, budgets=[1e1, 1e9],
                        methods=[M22], executor="serial", cache_dir=None, progress=False)
    finally:
        os.chdir(cwd)
    by = {(it["budget"], it["status"]) for it in res.items}
    assert (1e1, "unable") in by and (1e9, "ok") in by
