"""The symbolic graph: lambdified code equals the forward pass, linear pieces equal the model on
their regions, rational mode is exact, and the LaTeX renders."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symest
from symest._errors import MethodError
from symest.forward import forward_numpy
from symest.graph import OPS, compile_model
from symest.model import make_model
from symest.tasks import get_task

FIX = Path(__file__).parent / "fixtures"


def rand_model(d: int, n: int, seed: int, *, task: str = "2nd_argmax", bias: bool = False, dyadic: bool = False):
    rng = np.random.default_rng(seed)
    k = get_task(task).out_size(n)
    w = {"rnn.weight_ih_l0": rng.normal(size=(d, 1)), "rnn.weight_hh_l0": rng.normal(size=(d, d)) / np.sqrt(d),
         "linear.weight": rng.normal(size=(k, d))}
    if bias:
        w.update({"rnn.bias_ih_l0": rng.normal(size=d) * 0.3, "rnn.bias_hh_l0": rng.normal(size=d) * 0.3,
                  "linear.bias": rng.normal(size=k)})
    if dyadic:  # exactly representable products: float arithmetic on them is exact
        w = {key: np.round(v * 4) / 4 for key, v in w.items()}
    return make_model(get_task(task), n, w, name=f"rand_{d}_{n}_{seed}", dtype="float64")


MODELS = [
    symest.handcrafted_2, symest.handcrafted_3, symest.handcrafted_10,
    lambda: rand_model(4, 3, 0), lambda: rand_model(5, 4, 1, bias=True), lambda: rand_model(3, 5, 2, task="median"),
    lambda: rand_model(16, 10, 3), lambda: symest.load(FIX / "rnn_bias_2nd_argmax_3_3.pth"),
]


@pytest.fixture(scope="module", params=range(len(MODELS)), ids=["hc2", "hc3", "hc10", "r43", "r54b", "med35",
                                                                 "r1610", "fixture_bias"])
def compiled(request):
    model = MODELS[request.param]()
    return model, compile_model(model)


def test_structure(compiled):
    model, g = compiled
    n, d = model.seq_len, model.hidden
    assert [nd.op for nd in g.nodes[:n]] == ["input"] * n
    assert all(nd.op in OPS for nd in g.nodes)
    assert len(g.nodes) == n + 2 * n * d + model.task.out_size(n) + 1
    assert g.predicate.op == "predicate" and g.nodes[-1] is g.predicate
    # topological: every node refers only to symbols defined before it
    seen: set = set()
    for nd in g.nodes:
        if nd.op != "input":
            assert nd.expr.free_symbols <= seen
        if nd.symbol is not None:
            seen.add(nd.symbol)
    assert g.h(n - 1, d - 1).expr == sp.Max(0, g.z(n - 1, d - 1).symbol)


def _tol(model) -> float:
    # handcrafted_3's lambda = 100 construction amplifies rounding: both the forward pass and the
    # lambdified code are ~5e-10 from the exact (rational) outputs there, in different places.
    return 1e-8 if model.name == "handcrafted_2nd_argmax_3" else 1e-10


def test_lambdify_numpy_matches_forward(compiled):
    model, g = compiled
    x = np.random.default_rng(7).normal(size=(512, model.seq_len)) * 1.5
    np.testing.assert_allclose(g.lambdify("numpy")(x), forward_numpy(model, x), rtol=0, atol=_tol(model))


def test_lambdify_jax_matches_forward(compiled):
    import jax

    model, g = compiled
    x = np.random.default_rng(8).normal(size=(256, model.seq_len))
    fn = g.lambdify("jax")
    if model.hidden * model.seq_len <= 60:  # XLA compiles the unrolled big graphs slowly; eager is enough
        fn = jax.jit(fn)
    with jax.enable_x64(True):
        out64 = np.asarray(fn(x))
    np.testing.assert_allclose(out64, forward_numpy(model, x), rtol=0, atol=_tol(model))
    if model.name.startswith("rand"):  # float32: rounding only (hc3's lambda = 100 amplifies it)
        out32 = np.asarray(fn(x.astype(np.float32)))
        assert out32.dtype == np.float32
        ref = forward_numpy(model, x)
        assert np.max(np.abs(out32 - ref)) < 1e-4 * max(1.0, np.max(np.abs(ref)))


def test_restrict_and_linear_maps_agree_with_forward(compiled):
    model, g = compiled
    if model.hidden * model.seq_len > 60:
        pytest.skip("symbolic restriction is checked on the small models")
    x = np.random.default_rng(9).normal(size=(6, model.seq_len))
    pats = g.activation_patterns(x)
    ref = forward_numpy(model, x)
    for xi, p, yi in zip(x, pats, ref, strict=True):
        piece = g.linear_maps(p)
        np.testing.assert_allclose(piece.L @ xi + piece.l, yi, atol=1e-10)
        assert np.all(piece.C @ xi + piece.c >= -1e-12)
        L, C = piece  # unpacks as (L, C)
        assert L.shape == (model.task.out_size(model.seq_len), model.seq_len)
        assert C.shape == (model.seq_len * model.hidden, model.seq_len)
        res = g.restrict(p)
        env = dict(zip(g.inputs, xi.tolist(), strict=True))
        got = [float(e.xreplace(env)) for e in res.outputs]
        np.testing.assert_allclose(got, yi, atol=1e-9)
        assert all(float(c.xreplace(env)) >= -1e-9 for c in res.constraints)
        assert len(res.constraints) == model.seq_len * model.hidden
        assert all(isinstance(r, sp.GreaterThan) for r in res.relations)
        # numeric and symbolic forms agree coefficient by coefficient
        for j, e in enumerate(res.outputs):
            coeffs = [float(e.coeff(s)) for s in g.inputs]
            np.testing.assert_allclose(coeffs, piece.L[j], atol=1e-9)


def test_restrict_holds_on_region_beyond_the_sample_point():
    """Other inputs with the same pattern get the same affine outputs."""
    model = rand_model(4, 3, 0)
    g = compile_model(model)
    x = np.random.default_rng(3).normal(size=(4000, 3))
    pats = g.activation_patterns(x)
    p0 = pats[0]
    same = np.all(pats == p0, axis=(1, 2))
    assert same.sum() > 5
    piece = g.linear_maps(p0)
    np.testing.assert_allclose(x[same] @ piece.L.T, forward_numpy(model, x[same]), atol=1e-10)
    assert np.all(x[same] @ piece.C.T >= -1e-12)
    inside = np.all(x @ piece.C.T + piece.c > 0, axis=1)
    np.testing.assert_array_equal(inside, same & inside)  # strictly inside the region => same pattern


def test_rational_mode_is_exact():
    model = rand_model(3, 3, 4, bias=True)
    g = compile_model(model, rational=True)
    for i in range(3):
        coeff = g.z(0, i).expr.coeff(g.inputs[0])
        assert isinstance(coeff, sp.Rational) and Fraction(int(coeff.p), int(coeff.q)) == Fraction(model.W_hi[i, 0])
    # on dyadic weights float arithmetic is exact, so the rational pieces equal the float maps exactly
    dy = rand_model(3, 4, 5, bias=True, dyadic=True)
    gd = compile_model(dy, rational=True)
    x = np.random.default_rng(1).normal(size=(3, 4))
    for p in gd.activation_patterns(x):
        res, piece = gd.restrict(p), gd.linear_maps(p)
        for j, e in enumerate(res.outputs):
            poly = sp.Poly(e, *gd.inputs)
            assert all(isinstance(c, sp.Rational) for c in poly.coeffs())
            assert [float(e.coeff(s)) for s in gd.inputs] == piece.L[j].tolist()
            assert float(e.subs(dict.fromkeys(gd.inputs, 0))) == piece.l[j]
    # handcrafted_2: on every region the logits are exactly +-(x_1 - x_0)
    h2 = compile_model(symest.handcrafted_2(), rational=True)
    x0, x1 = h2.inputs
    for p in h2.activation_patterns(np.random.default_rng(2).normal(size=(20, 2))):
        y0, y1 = h2.restrict(p).outputs
        assert sp.expand(y0 - (x1 - x0)) == 0 and sp.expand(y1 - (x0 - x1)) == 0
    # and its lambdified code reproduces the forward pass
    x = np.random.default_rng(5).normal(size=(100, 3))
    np.testing.assert_allclose(g.lambdify()(x), forward_numpy(model, x), atol=1e-12)


def test_expanded_and_predicate_on_small_model():
    model = symest.handcrafted_2()
    g = compile_model(model)
    x = np.random.default_rng(0).normal(size=(50, 2))
    y = forward_numpy(model, x)
    e0 = g.expanded("y_{0}")
    assert e0.free_symbols == set(g.inputs)
    for xi, yi in zip(x, y, strict=True):
        assert abs(float(e0.xreplace(dict(zip(g.inputs, xi.tolist(), strict=True)))) - yi[0]) < 1e-12
    pred = g.predicate_boolean()
    ys = [nd.symbol for nd in g.outputs]
    score = model.task.score(x, y, np)
    for xi, yi, si in zip(x, y, score, strict=True):
        env = {**dict(zip(g.inputs, xi.tolist(), strict=True)), **dict(zip(ys, yi.tolist(), strict=True))}
        assert bool(pred.xreplace(env)) == bool(si)
    assert isinstance(g.predicate.expr, sp.Eq)
    assert g.rank_above == 1
    med = compile_model(rand_model(2, 3, 1, task="median"))
    assert med.predicate.name == "sq_error" and med.rank_above is None
    with pytest.raises(MethodError):
        med.predicate_boolean()


def test_latex_renders():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import mathtext

    g = compile_model(symest.handcrafted_2())
    tex = g.to_latex()
    assert tex.startswith("\\begin{align*}") and tex.rstrip().endswith("\\end{align*}")
    lines = tex.splitlines()[1:-1]
    assert len(lines) == len(g.nodes) - g.n
    assert any(r"\max" in ln for ln in lines) and any("argmax" in ln for ln in lines)
    for ln in lines:  # each line is valid TeX math (matplotlib's mathtext parses and draws it)
        body = ln.rstrip(" \\").replace("&", "")
        mathtext.math_to_image(f"${body}$", io.BytesIO(), format="png")
    big = compile_model(symest.handcrafted_10()).to_latex(max_lines=20)
    assert r"W_{hh}" in big and len(big.splitlines()) <= 20 + 3
    rat = compile_model(symest.handcrafted_3(), rational=True).to_latex()
    assert r"\frac" in rat or "x_{0}" in rat


def test_rejects_transformers_and_bad_patterns():
    with pytest.raises(MethodError):
        compile_model(symest.load(FIX / "transformer_longest_cycle_4_4.pth"))
    g = compile_model(rand_model(2, 2, 0))
    with pytest.raises(MethodError):
        g.linear_maps(np.ones((2, 3)))
    with pytest.raises(MethodError):
        g.restrict(np.full((2, 2), 2))
    with pytest.raises(MethodError):
        g.lambdify("torch")
