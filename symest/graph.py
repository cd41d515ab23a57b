"""Symbolic compilation of a model: a small SymPy DAG, op by op.

:func:`compile_model` turns an RNN :class:`~symest.model.Model` (with or without biases) into a
frozen :class:`Graph` whose nodes, in topological order, are

* ``input``     x_t for t < n (real SymPy symbols ``x_0 .. x_{n-1}``);
* ``linear``    pre-activations z_{t,i} = sum_j W_hh[i,j] h_{t-1,j} + W_hi[i] x_t (+ b_i), with
  h_{-1} = 0 (so step 0 reads only x_0), named ``z_{t,i}``;
* ``relu``      h_{t,i} = Max(0, z_{t,i}), named ``h_{t,i}``;
* ``readout``   outputs y_j = sum_i W_oh[j,i] h_{n-1,i} (+ c_j), named ``y_{j}`` (logits, or the
  single scalar output of median models);
* ``predicate`` the task node, last. Classification tasks: ``correct`` =
  ``Eq(argmax(y_0..y_{k-1}), T(x_0..x_{n-1}))`` where T is an undefined SymPy function named
  after the task's target (``argmax2`` = position of the 2nd largest input for 2nd_argmax,
  ``argmax``, ``argmedian``, ``argoutlier``). For rank tasks (the target is the position with a
  given number r of larger inputs) :attr:`Graph.rank_above` is r and
  :meth:`Graph.predicate_boolean` expands the predicate into explicit Or/And form over
  comparisons of symbols. Scalar tasks (median): ``sq_error`` = ``(y_0 - median(x...))**2``,
  the per-sample score whose mean is the MSE.

Each node's expression refers only to the symbols of earlier nodes (the DAG stays O(n d^2));
:meth:`Graph.expanded` substitutes down to the inputs (exponentially large printed, so meant for
small models). ``rational=True`` uses exact ``sympy.Rational`` copies of the float weights
(Rational(float) is exact); otherwise SymPy Floats of the same values.

Activation patterns: ``pattern[t, i] = 1`` when z_{t,i} >= 0 (ReLU passes), 0 when z_{t,i} <= 0.
On such a pattern's region every output is affine in x: :meth:`Graph.restrict` gives the
forms symbolically and :meth:`Graph.linear_maps` as NumPy matrices, with the region's constraints
one per (t, i) in row-major order (row t*d + i), each normalised to ``c . x (+ c0) >= 0``.

Transformers (longest_cycle) are not compiled yet: :func:`compile_model` raises MethodError.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from symest._errors import MethodError
from symest.model import Model

OPS = ("input", "linear", "relu", "readout", "predicate")

# Undefined SymPy functions naming each task's target (rank tasks: number of larger inputs).
_TARGET_NAME = {"2nd_argmax": "argmax2", "argmax": "argmax", "argmedian": "argmedian",
                "argoutlier": "argoutlier", "median": "median"}
ARGMAX = sp.Function("argmax")


def rank_above(task_name: str, n: int) -> int | None:
    """For rank tasks, how many inputs exceed the target position's input; None otherwise."""
    return {"2nd_argmax": 1, "argmax": 0, "argmedian": n // 2}.get(task_name)


@dataclass(frozen=True)
class Node:
    """One op of the graph. ``symbol`` is the SymPy symbol later nodes use for this value
    (None for the predicate); ``step``/``index`` are (t, i) for z/h nodes, (None, j) for
    inputs and readouts."""

    name: str
    op: str
    expr: Any
    symbol: sp.Symbol | None
    step: int | None = None
    index: int | None = None


@dataclass(frozen=True)
class Restriction:
    """The model on one activation pattern's region: outputs are affine forms in x, and the
    region is {x : c >= 0 for every c in constraints} (one constraint per (t, i), row-major)."""

    pattern: np.ndarray
    outputs: tuple[sp.Expr, ...]
    constraints: tuple[sp.Expr, ...]

    @property
    def relations(self) -> tuple[sp.Basic, ...]:
        """The constraints as SymPy relations ``c >= 0``."""
        return tuple(sp.Ge(c, 0, evaluate=False) for c in self.constraints)


@dataclass(frozen=True, eq=False)
class LinearPiece:
    """NumPy form of a :class:`Restriction`: outputs = L x + l, region C x + c >= 0.

    ``l`` and ``c`` are zero for bias-free models. Unpacks as ``L, C = piece``.
    """

    L: np.ndarray
    C: np.ndarray
    l: np.ndarray
    c: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.L, self.C))


@dataclass(frozen=True, eq=False)
class Graph:
    model: Model
    rational: bool
    inputs: tuple[sp.Symbol, ...]
    nodes: tuple[Node, ...]
    _by_name: dict[str, Node] = field(repr=False)
    _expanded: dict[str, Any] = field(default_factory=dict, repr=False)
    _lambdified: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- lookup ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.model.seq_len

    @property
    def d(self) -> int:
        return self.model.hidden

    @property
    def rank_above(self) -> int | None:
        return rank_above(self.model.task.name, self.n)

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no node {name!r} in the graph of {self.model.name}") from None

    def z(self, t: int, i: int) -> Node:
        return self._by_name[f"z_{{{t},{i}}}"]

    def h(self, t: int, i: int) -> Node:
        return self._by_name[f"h_{{{t},{i}}}"]

    @property
    def outputs(self) -> tuple[Node, ...]:
        return tuple(nd for nd in self.nodes if nd.op == "readout")

    @property
    def predicate(self) -> Node:
        return self.nodes[-1]

    # -- symbolic views -------------------------------------------------------------------
    def expanded(self, node: Node | str) -> Any:
        """The node's expression with every intermediate symbol substituted down to x.

        Built in topological order with shared subexpressions (cheap to build); printing or
        simplifying it is exponential in depth, so use it on small models."""
        nd = self.node(node) if isinstance(node, str) else node
        memo = self._expanded
        if nd.name in memo:
            return memo[nd.name]
        sub: dict[sp.Symbol, Any] = {}
        for m in self.nodes:
            if m.name in memo:
                val = memo[m.name]
            elif m.op == "input":
                val = m.symbol
            elif m.op == "relu":
                val = sp.Max(0, sub[self.z(m.step, m.index).symbol], evaluate=False)
            else:
                val = m.expr.xreplace(sub)
            memo[m.name] = val
            if m.symbol is not None:
                sub[m.symbol] = val
            if m.name == nd.name:
                break
        return memo[nd.name]

    def predicate_boolean(self, max_terms: int = 20000) -> sp.Basic:
        """Rank tasks: the predicate as explicit Or/And of symbol comparisons,
        OR_j [ AND_{k != j} y_j > y_k ] AND [ exactly r inputs exceed x_j ]."""
        r = self.rank_above
        if r is None:
            raise MethodError(f"task {self.model.task.name} has no rank predicate to expand")
        n, x = self.n, self.inputs
        ys = [nd.symbol for nd in self.outputs]
        n_terms = n * math.comb(n - 1, r) * (n - 1)
        if n_terms > max_terms:
            raise MethodError(f"the expanded predicate would have {n_terms} comparisons (cap {max_terms})")
        terms = []
        for j in range(n):
            wins = [sp.StrictGreaterThan(ys[j], ys[k]) for k in range(n) if k != j]
            others = [k for k in range(n) if k != j]
            ranks = [sp.And(*[sp.StrictGreaterThan(x[k], x[j]) if k in above else sp.StrictLessThan(x[k], x[j])
                              for k in others])
                     for above in map(set, itertools.combinations(others, r))]
            terms.append(sp.And(*wins, sp.Or(*ranks)))
        return sp.Or(*terms)

    # -- numeric evaluation ---------------------------------------------------------------
    def lambdify(self, backend: str = "numpy") -> Callable[[Any], Any]:
        """A function of a (B, n) batch of inputs giving the (B, k) outputs.

        Like ``sympy.lambdify`` over the whole DAG: one line of Python per node, printed from
        the node's expression (Add, Mul, numbers, symbols, Max; anything else through SymPy's
        code printer for ``backend``), with floats printed to 17 digits (exact round trip;
        Rationals become their correctly rounded float). ``backend`` is "numpy" or "jax"
        (jit-able). Computes in the dtype of the inputs; the source is in ``fn.source``."""
        if backend not in ("numpy", "jax"):
            raise MethodError(f"unknown lambdify backend {backend!r}; use 'numpy' or 'jax'")
        if backend in self._lambdified:
            return self._lambdified[backend]
        if backend == "jax":
            import jax.numpy as xp
        else:
            xp = np
        names: dict[sp.Symbol, str] = {}
        fallback = _printer(backend)({"fully_qualified_modules": False, "inline": True,
                                      "allow_unknown_functions": True})
        lines = ["def graph_fn(X):"]
        for nd in self.nodes:
            if nd.op == "predicate":
                continue
            var = f"x{nd.index}" if nd.op == "input" else f"v{len(names)}"
            rhs = f"X[..., {nd.index}]" if nd.op == "input" else _code(nd.expr, names, fallback)
            lines.append(f"    {var} = {rhs}  # {nd.name}")
            names[nd.symbol] = var
        outs = ", ".join(names[nd.symbol] for nd in self.outputs)
        lines.append("    shape = X.shape[:-1]")
        lines.append(f"    return xp.stack([xp.broadcast_to(xp.asarray(o, dtype=X.dtype), shape) for o in ({outs},)],"
                     " axis=-1)")
        src = "\n".join(lines) + "\n"
        ns: dict[str, Any] = {"xp": xp, **{k: getattr(xp, k) for k in ("maximum", "minimum") if hasattr(xp, k)}}
        exec(compile(src, f"<symest graph of {self.model.name}>", "exec"), ns)
        inner = ns["graph_fn"]

        def graph_fn(x: Any) -> Any:
            return inner(xp.asarray(x))

        graph_fn.source = src  # type: ignore[attr-defined]
        self._lambdified[backend] = graph_fn
        return graph_fn

    def activation_patterns(self, x: np.ndarray) -> np.ndarray:
        """The (B, n, d) 0/1 activation patterns of a batch of inputs (z >= 0 -> 1)."""
        w = self.model.weights
        x = np.asarray(x, dtype=np.float64)
        w_hi, w_hh = w["rnn.weight_ih_l0"][:, 0], w["rnn.weight_hh_l0"]
        bias = _rnn_bias(self.model)
        h = np.zeros((*x.shape[:-1], self.d))
        pats = []
        for t in range(self.n):
            z = h @ w_hh.T + x[..., t, None] * w_hi + bias
            pats.append(z >= 0)
            h = np.maximum(z, 0)
        return np.stack(pats, axis=-2).astype(np.int8)

    # -- linear pieces --------------------------------------------------------------------
    def _check_pattern(self, pattern: Any) -> np.ndarray:
        p = np.asarray(pattern)
        if p.shape != (self.n, self.d) or not np.all((p == 0) | (p == 1)):
            raise MethodError(f"an activation pattern must be a 0/1 array of shape ({self.n}, {self.d})")
        return p.astype(np.int8)

    def linear_maps(self, pattern: Any) -> LinearPiece:
        """Outputs L x + l and constraints C x + c >= 0 on ``pattern``'s region, float64.

        Row t*d + i of C is s * (d z_{t,i} / d x), s = +1 where active and -1 where not."""
        p = self._check_pattern(pattern)
        w = self.model.weights
        n, d = self.n, self.d
        w_hi, w_hh = w["rnn.weight_ih_l0"][:, 0], w["rnn.weight_hh_l0"]
        bias = _rnn_bias(self.model)
        M, m = np.zeros((d, n)), np.zeros(d)  # h_{t-1} = M x + m
        C, c = np.zeros((n * d, n)), np.zeros(n * d)
        for t in range(n):
            Z = w_hh @ M
            Z[:, t] += w_hi
            zc = w_hh @ m + bias
            s = np.where(p[t] == 1, 1.0, -1.0)
            C[t * d:(t + 1) * d], c[t * d:(t + 1) * d] = s[:, None] * Z, s * zc
            M, m = p[t][:, None] * Z, p[t] * zc
        w_oh = w["linear.weight"]
        b_o = w["linear.bias"] if "linear.bias" in w else np.zeros(w_oh.shape[0])
        return LinearPiece(w_oh @ M, C, w_oh @ m + b_o, c)

    def restrict(self, pattern: Any) -> Restriction:
        """Outputs and region constraints on ``pattern`` as SymPy affine forms in x (exact
        rationals in rational mode: the recurrence is replayed in SymPy arithmetic)."""
        p = self._check_pattern(pattern)
        n, d = self.n, self.d
        num = _coerce(self.rational)
        w = self.model.weights
        W_hh = sp.Matrix(d, d, lambda i, j: num(w["rnn.weight_hh_l0"][i, j]))
        W_hi = [num(v) for v in w["rnn.weight_ih_l0"][:, 0]]
        bias = [num(v) for v in _rnn_bias(self.model)]
        M = sp.zeros(d, n + 1)  # column n holds the constant term
        cons: list[sp.Expr] = []
        xs = sp.Matrix([*self.inputs, 1])
        for t in range(n):
            Z = W_hh * M
            for i in range(d):
                Z[i, t] += W_hi[i]
                Z[i, n] += bias[i]
            for i in range(d):
                form = (Z[i, :] * xs)[0]
                cons.append(sp.expand(form if p[t, i] else -form))
            M = sp.Matrix(d, n + 1, lambda i, j, Z=Z, t=t: Z[i, j] if p[t, i] else 0)
        W_oh = w["linear.weight"]
        b_o = w["linear.bias"] if "linear.bias" in w else np.zeros(W_oh.shape[0])
        Wo = sp.Matrix(W_oh.shape[0], d, lambda i, j: num(W_oh[i, j]))
        L = Wo * M
        outs = tuple(sp.expand((L[j, :] * xs)[0] + num(b_o[j])) for j in range(W_oh.shape[0]))
        return Restriction(p, outs, tuple(cons))

    # -- rendering ------------------------------------------------------------------------
    def to_latex(self, max_lines: int = 60, digits: int = 4, exact: bool = False) -> str:
        """An ``align*`` block: one line per node when the graph has at most ``max_lines``
        non-input nodes, else the vector recurrence, the lines of step 1 (capped) and the
        predicate. Coefficients are shown to ``digits`` significant digits (integers exactly)
        unless ``exact`` (then floats, or rationals in rational mode, print in full)."""
        body = [nd for nd in self.nodes if nd.op != "input"]

        def fmt(e: Any) -> str:
            if not exact:
                rep = {}
                for a in e.atoms(sp.Number):
                    if not isinstance(a, sp.Integer):
                        v = float(a)
                        rep[a] = sp.Integer(int(v)) if v.is_integer() else sp.Float(v, digits)
                e = e.xreplace(rep)
            return sp.latex(e)

        def lhs(nd: Node) -> str:
            if nd.symbol is not None:
                return sp.latex(nd.symbol)
            return r"\mathrm{" + nd.name.replace("_", r"\_") + "}"

        lines = []
        if len(body) <= max_lines:
            lines = [f"{lhs(nd)} &= {fmt(nd.expr)}" for nd in body]
        else:
            b = r" + b" if self.model.has_bias else ""
            c = r" + c" if "linear.bias" in self.model.weights else ""
            lines.append(rf"z_t &= W_{{hh}}\, h_{{t-1}} + W_{{hi}}\, x_t{b}, \quad h_t = \max(0, z_t), "
                         rf"\quad h_{{-1}} = 0, \quad t = 0, \dots, {self.n - 1} \quad (d = {self.d})")
            lines.append(rf"y &= W_{{oh}}\, h_{{{self.n - 1}}}{c}")
            first = [nd for nd in body if nd.op == "linear" and nd.step == min(1, self.n - 1)]
            shown = first[: max(1, max_lines - 4)]
            lines += [f"{sp.latex(nd.symbol)} &= {fmt(nd.expr)}" for nd in shown]
            if len(first) > len(shown):
                lines.append(r"&\;\vdots")
            lines.append(f"{lhs(self.predicate)} &= {fmt(self.predicate.expr)}")
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"


def _printer(backend: str) -> Any:
    """SymPy's code printer for ``backend``, printing Floats with all 17 digits (round trip)."""
    from sympy.printing.numpy import JaxPrinter, NumPyPrinter

    base = JaxPrinter if backend == "jax" else NumPyPrinter

    class ExactFloatPrinter(base):  # type: ignore[misc, valid-type]
        def _print_Float(self, expr: sp.Float) -> str:
            return repr(float(expr))

    return ExactFloatPrinter


def _code(e: Any, names: dict[sp.Symbol, str], fallback: Any) -> str:
    """Python source for a node expression (see :meth:`Graph.lambdify`)."""
    if isinstance(e, sp.Symbol):
        return names[e]
    if isinstance(e, sp.Number):
        return repr(float(e))
    if isinstance(e, sp.Add):
        return "(" + " + ".join(_code(a, names, fallback) for a in e.args) + ")"
    if isinstance(e, sp.Mul):
        return "*".join(_code(a, names, fallback) for a in e.args)
    if isinstance(e, sp.Max) and len(e.args) == 2:
        a, b = (_code(a, names, fallback) for a in e.args)
        return f"maximum({a}, {b})"
    return fallback.doprint(e.xreplace({s: sp.Symbol(v) for s, v in names.items() if s in e.free_symbols}))


def _rnn_bias(model: Model) -> np.ndarray:
    w = model.weights
    if "rnn.bias_ih_l0" in w:
        return w["rnn.bias_ih_l0"] + w["rnn.bias_hh_l0"]
    return np.zeros(model.hidden)


def _coerce(rational: bool) -> Callable[[float], sp.Expr]:
    if rational:
        return lambda v: sp.Rational(float(v))
    return lambda v: sp.Float(float(v))


def _affine(terms: Sequence[tuple[Any, sp.Expr]], const: Any) -> sp.Expr:
    """sum w s (+ const), built unevaluated (SymPy's canonicalisation is slow and changes nothing
    here: the symbols are distinct and the coefficients non-zero numbers)."""
    out: list[sp.Expr] = [sp.Mul(w, s, evaluate=False) for w, s in terms if w != 0]
    if const != 0:
        out.append(const)
    if not out:
        return sp.Integer(0)
    return out[0] if len(out) == 1 else sp.Add(*out, evaluate=False)


def compile_model(model: Model, rational: bool = False) -> Graph:
    """Compile an RNN model into a :class:`Graph` (see the module docstring)."""
    if model.arch != "rnn":
        raise MethodError("symbolic compilation of transformers (longest_cycle) is not implemented yet")
    num = _coerce(rational)
    n, d = model.seq_len, model.hidden
    w = model.weights
    w_hi, w_hh, w_oh = w["rnn.weight_ih_l0"][:, 0], w["rnn.weight_hh_l0"], w["linear.weight"]
    bias = _rnn_bias(model)
    b_o = w["linear.bias"] if "linear.bias" in w else np.zeros(w_oh.shape[0])
    xs = tuple(sp.Symbol(f"x_{t}", real=True) for t in range(n))
    nodes = [Node(f"x_{t}", "input", xs[t], xs[t], None, t) for t in range(n)]
    h_prev: list[sp.Symbol] = []
    for t in range(n):
        zs = [sp.Symbol(f"z_{{{t},{i}}}", real=True) for i in range(d)]
        hs = [sp.Symbol(f"h_{{{t},{i}}}", real=True) for i in range(d)]
        for i in range(d):
            terms = [(num(w_hh[i, j]), h_prev[j]) for j in range(len(h_prev)) if w_hh[i, j] != 0]
            if w_hi[i] != 0:
                terms.append((num(w_hi[i]), xs[t]))
            nodes.append(Node(zs[i].name, "linear", _affine(terms, num(bias[i]) if bias[i] else 0), zs[i], t, i))
        for i in range(d):
            nodes.append(Node(hs[i].name, "relu", sp.Max(0, zs[i], evaluate=False), hs[i], t, i))
        h_prev = hs
    k = w_oh.shape[0]
    ys = [sp.Symbol(f"y_{{{j}}}", real=True) for j in range(k)]
    for j in range(k):
        terms = [(num(w_oh[j, i]), h_prev[i]) for i in range(d) if w_oh[j, i] != 0]
        nodes.append(Node(ys[j].name, "readout", _affine(terms, num(b_o[j]) if b_o[j] else 0), ys[j], None, j))
    target = sp.Function(_TARGET_NAME.get(model.task.name, model.task.name))(*xs)
    if model.task.output == "dist":
        pred = Node("correct", "predicate", sp.Eq(ARGMAX(*ys), target, evaluate=False), None)
    else:
        pred = Node("sq_error", "predicate", (ys[0] - target) ** 2, None)
    nodes.append(pred)
    return Graph(model, rational, xs, tuple(nodes), {nd.name: nd for nd in nodes})
