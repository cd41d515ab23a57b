r"""Polyhedral cones through the origin and their standard-Gaussian measure.

A cone here is ``C = {x in R^n : a_i . x >= 0, i = 1..m}`` (``normals`` holds the rows ``a_i``).
For ``X ~ N(0, I_n)`` the Gaussian measure ``gamma(C) = P(X in C)`` equals the solid-angle
fraction ``sigma(C ∩ S^{n-1}) / sigma(S^{n-1})`` because the standard Gaussian is isotropic.
A bias-free ReLU network is linear on such cones, so accuracies are sums of these measures.

Conventions
-----------
* Rows are normalised before use. A row of norm 0 says ``0 >= 0``, which always holds, so it is
  dropped; every other row, however short, is a genuine constraint. ``m = 0`` is the whole space.
* A cone with empty interior (lower-dimensional, e.g. ``{a.x >= 0, -a.x >= 0}``) has measure 0.
* Lineality: ``C`` contains the subspace ``ker A``. With ``R^n = ker A ⊕ row(A)`` the two
  components of ``X`` are independent standard Gaussians, so ``gamma(C)`` is the Gaussian
  measure of ``{y in row(A) : A y >= 0}`` inside the ``r = rank(A)``-dimensional space
  ``row(A)``. Every cone is first reduced this way (SVD; singular values below
  ``1e-12 * sigma_max`` count as zero), after which it is pointed (contains no line). Dropping
  a singular value turns each row ``a_i`` by ``asin |e_i|`` (``e_i`` its part along the dropped
  directions), which moves the measure by at most ``sum_i asin |e_i| / pi``; when some
  ``|e_i|`` exceeds ``64 eps`` (more than rounding) that amount is added to the error bound
  and the result is not reported as exact.

Methods, by the reduced dimension ``r``
---------------------------------------
* ``r = 0``: the whole space, measure 1. ``r = 1``: 1/2 if every normal points the same way,
  else 0 (the cone is a hyperplane).
* ``r = 2`` (exact, closed form): the normals' directions, sorted by angle, lie in an arc of
  width ``w = 2 pi - (largest cyclic gap)``. If ``w < pi`` the cone is the sector of angle
  ``pi - w`` (between the two extreme normals ``a_lo, a_hi`` rotated by 90 degrees), evaluated
  as ``2 atan2(|a_lo + a_hi|, |a_lo - a_hi|)`` so tiny sectors keep relative accuracy; otherwise
  the interior is empty. Measure ``angle / (2 pi)``; a single normal gives the half-plane 1/2.
* ``r = 3`` (exact, closed form): the cone meets the sphere in a convex spherical polygon whose
  vertices are the feasible points among ``±(a_i x a_j)/|a_i x a_j|`` (for ``m = 3``: the three
  rays of the dual basis). Two exact area formulas are evaluated and, per cone, the better
  conditioned one is kept (the fan whenever its rounding error is below ``1e-13``): (i) the
  vertices ordered by angle around an interior direction (their sum; an LP's interior point in
  the rare cones where almost antipodal vertices cancel in that sum and leave it on the
  boundary), fanned into triangles from one vertex, each of solid angle (Van Oosterom–Strackee)
  ``Omega = 2 atan2(|v1 . ((v2 - v1) x (v3 - v1))|, 1 + v1.v2 + v2.v3 + v3.v1)`` (the triple
  product taken of edge vectors, so it keeps relative accuracy however small the triangle): a
  sum of positive terms, so tiny polygons keep relative accuracy; its rounding error is about
  ``eps / sqrt(2 (1 + v1.v2)(1 + v2.v3)(1 + v3.v1))`` per triangle, large only for almost
  antipodal vertices; (ii) Girard / Gauss–Bonnet, ``area = 2 pi - sum over vertices of the
  turning angle``. Vertices closer than ``1e-9`` (duplicates from several pairs of planes
  through one point, corners cut off by nearby planes) form one cluster; a cluster turns by the
  angle between the planes of the edges entering and leaving it, each edge's plane being the
  normal closest to tight at both of its end clusters, or, where that is ambiguous (an edge
  between almost antipodal clusters; polygons of fewer than three clusters), by the largest
  angle between the normals tight at its vertices, which equals the sum of its turns to second
  order in the cluster's size (absolute error a few eps per vertex otherwise). A chord is never
  less than the turns it stands for, so with chords Girard's sum is an upper bound, off at first
  order when a cluster is not small against the polygon's width (a thin slab cut by two planes
  ``1e-9`` apart): where it exceeds the fan by more than both rounding errors, the fan is kept.
  A polygon of a single cluster is a point (or tiny) and always takes the fan. Every area is capped by the
  lune of the two most nearly antiparallel planes, ``2 (pi - angle)``, which bounds slabs too
  thin for either formula. Cones with empty interior need no separate test: their feasible
  vertices form one cluster, measured 0. Measure ``area / (4 pi)``. Lunes (two normals),
  hemispheres and the whole space never get here: they have ``r <= 2``. Cost ``O(m^3)`` (all
  pairs against all normals).
* ``r >= 4`` (numerical):

  0. Rows equal after normalisation (to 8 eps) are dropped. Rows within angle ``1e-7`` of an
     earlier row are merged (the later one dropped): this enlarges the cone by at most the wedge
     between the two planes, of measure exactly ``angle / (2 pi)``, which is added to the error
     bound (planes that close would make the zero tests below ambiguous).
  0b. Slabs: when two rows are within ``_SLAB_ANGLE = 1e-4`` of antiparallel (``delta = pi -
     angle``), the cone lies in the thin wedge between their planes, and none of the steps below
     is used (their zero tests, ``1e-10`` and ``1e-11``, cannot separate planes ``1e-11`` apart;
     flat pieces and cancelling O(1) terms cost relative accuracy). Instead one row is turned
     back until the pair is exactly antiparallel (measure 0): ``a_j(psi) = -cos(psi) a_i +
     sin(psi) f``, ``psi`` from 0 to ``delta``. The cone grows through its moving facet at rate
     ``dist(x, E)`` (``E = {a_i, f}^perp``), so ``gamma = (1 / 2 pi) int_0^delta h(psi) d psi``,
     ``h = sqrt(2 pi) E[g 1_K]`` over an ``(r-1)``-dimensional cone ``K`` (``g`` the coordinate
     along the moving facet, ``g >= 0`` on ``K``), and Gaussian integration by parts turns ``h``
     into a sum over ``K``'s facets of ``(e_g . n_F)`` times their ``(r-2)``-dimensional measures
     (closed forms for ``r <= 5``, this module recursively beyond). ``K`` only grows with the
     coefficients ``c_k(psi) = a_k . w(psi)``, so on each part of ``[0, delta]`` the values of
     ``h`` at the smallest and largest ``c`` bracket it: a rigorous bound (up to the closed
     forms' rounding, ``64 eps`` per facet measure, validated against 50-digit areas; facet rows
     within ``1e-7`` of each other are merged first, adding ``angle / (2 pi)``), refined (up to
     64 parts, 8 for ``r >= 6``; only 8 when more would still miss it) until it meets ``rtol``.
     ``delta`` and ``f`` come from the input rows in exact rational arithmetic, so everything is
     relative to the slab's width, however small; when the input rows are not at hand
     (projected rows), normalising may have turned the pair by ``_NORMALISE_ANGLE = 32 eps``,
     which is added (times the largest ``h / 2 pi``). The same route is taken before the rank
     reduction when that reduction would drop more than rounding (slabs thinner than its
     ``1e-12`` tolerance); below ``64 eps`` the reduction counts as rounding (see Lineality).
  1. Extreme rays by the double-description method (start from ``r`` independent normals,
     whose simplicial cone contains ``C``; cut by the other normals one at a time, combining
     adjacent rays; adjacency by the combinatorial test; ``|a . ray| <= 1e-10`` counts as on the
     plane, and a miss between ``1e-13`` and ``1e-10`` (nearly degenerate input) adds
     ``10 x miss / (2 pi)`` per plane to the error bound). An empty interior shows as no interior
     point in the cone spanned by the rays:
     measure 0. The facets are the maximal ray-incidence sets (combinatorial, consistent with the
     double description; numerical rank tests misjudge thin faces of nearly degenerate cones).
  2. A pointed cone with exactly ``r`` facets is simplicial. Otherwise it is split by a pulling
     triangulation (pull the lowest-numbered ray, recurse into the facets of the face not
     containing it; the facets of a face are the maximal sets among its intersections with the
     cone's facets) into simplicial cones with disjoint interiors, so ``gamma(C)`` is a sum of
     positive terms. Each piece's normals are the null vectors of its other rays (SVD), which
     stays accurate for flat pieces (unlike inverting the ray matrix).
  2b. Thin pieces (all unit rays within a small cap) use the ray-chart integral
     ``gamma = |det V| Gamma(d/2) / (2 pi^(d/2)) int_simplex (1 - Q(t))^(-d/2) dt`` with
     ``Q(t) = t^T H t``, ``H_ij = |v_i - v_j|^2 / 2 >= 0``: a conical-product Gauss–Jacobi rule
     of degree ``2K + 1`` integrates the Taylor polynomial of degree ``K - 1`` in ``Q`` and ``Q^K``
     exactly, and ``0 <= f - T_K <= c_K Q^K (1 - Qmax)^(-d/2-K)`` (all Taylor coefficients of
     ``(1 - Q)^(-d/2)`` are positive), so the rule's value comes with a *rigorous* bound
     (``Qmax`` bounded via the rays' mean direction). ``K`` is the least order meeting
     ``rtol / 4``; the piece takes this route when ``(K+1)^(d-1)`` points cost less than the
     orthant quadrature. Everything is relative here (``det V`` from edge vectors), so tiny thin
     cones keep full relative accuracy.
  3. A simplicial cone ``{x : U x >= 0}`` with unit rows ``u_1..u_d`` has measure
     ``P_d(U) = P(Y >= 0)``, ``Y = U X ~ N(0, U U^T)``: an orthant probability. ``P_1 = 1/2``,
     ``P_2 = atan2(|u_1 + u_2|, |u_1 - u_2|) / pi`` and ``P_3 = (P_2(12) + P_2(13) + P_2(23)) / 2
     - 1/4`` are closed forms. For ``d >= 4`` we use Plackett's identity
     ``dP_d / d rho_ij = phi_2(0, 0; rho_ij) P_{d-2}(Y_rest >= 0 | Y_i = Y_j = 0)`` along the path
     that rotates the last row ``u_L`` out of the others' span,
     ``u_L(s) = s u_L + sqrt(1 - s^2) e`` (``e`` a new orthogonal direction), from ``s = 0``
     (``Y_L`` independent: ``P_{d-1}(u_1..u_{d-1}) / 2``) to ``s = 1``::

         P_d = P_{d-1}(u_1..u_{d-1}) / 2
               + sum_{i<L} (1 / 2 pi) int_0^{asin rho_iL} P_{d-2}(W_i(s(psi))) d psi,
         rho s = sin psi,   W_i(s)_k = [u_k^perp, h_k sqrt(1 - s^2) / cos psi],

     where ``u_k^perp`` is ``u_k`` projected off ``u_i`` and ``u_L``, and ``h_k`` is the component
     of ``u_k`` (projected off ``u_i``) along ``u_L`` (projected off ``u_i``, normalised). The rows
     ``W_i(s)`` have Gram matrix equal to the conditional covariance given ``Y_i = Y_L(s) = 0``,
     written as a sum of two positive semi-definite parts, so nothing cancels. A row almost
     parallel or antiparallel to the direction it is projected off (``|cos| > 0.999``) is
     projected as ``s - (s . u) u``, ``s = v -+ |v| u`` (the small difference formed first):
     ``v - (v . u) u`` would turn it by ``eps / sin(angle)``, an error fixed per pair (equal at
     every level, invisible to the level differences) in O(1) terms that cancel to a tiny
     measure (an almost antiparallel pair once gave 3.577e-10 +- 7e-14 for 3.772e-10); ``u^perp`` is
     re-expressed isometrically in ``d - 2`` coordinates (QR), so every level works in at most
     ``d - 1`` dimensions. The substitution ``rho s = sin psi`` removes the
     ``1 / sqrt(1 - rho^2 s^2)`` weight: each integrand is a probability, in ``[0, 1]``. The
     recursion nests ``ceil((d - 3) / 2)`` one-dimensional integrals (one for ``d = 4, 5``, two
     for ``d = 6, 7``, three for ``d = 8, 9``); all use the same tanh-sinh (double-exponential)
     rule, level ``k`` having step ``h = 2^-(k/2 + 1)`` on ``t in [-3.5, 3.5]`` (21, 29, 41, ...
     225 nodes for ``k = 1..8``), which tolerates the near-endpoint singularities that nearly
     degenerate (thin) cones create. The cost grows like ``(d-1)!! q^ceil((d-3)/2)`` for ``q``
     nodes: microseconds to milliseconds for ``d <= 5``, about a second for ``d = 8``.

Error bounds
------------
``r <= 3``: ``error_bound = 0.0`` and ``exact = True``, meaning *exact up to floating-point
rounding* (closed forms; rounding in the inputs is amplified only by the conditioning of the
cone, e.g. by ``1/|a_i x a_j|`` for almost parallel normals), unless the rank reduction dropped
more than rounding (see Lineality above): then the bound is that of the reduction and
``exact = False``. A cone found to have empty interior is also reported exactly (value 0,
bound 0).

``r >= 4``: merged near-parallel rows add their exact wedge measures; slabs (0b) carry a
rigorous bracket (plus ``64 eps`` per facet measure in ``h`` and ``16 r eps`` relative for
rounding, and the normalisation term where it applies; a second slab inside the first limits
the relative accuracy to about ``eps`` over its width); thin pieces (2b) carry a
rigorous bracket (plus ``16 d eps`` relative for rounding, and, when the rays were computed from
a simplicial cone's normals, twice the relative change their rounding may cause: ``sum_k
theta_k / height_k``, ``theta_k = 4 r eps / sigma_min`` of the other normals, large for almost
antiparallel ones; see ``_simplex_normals``). For the other pieces the
triangulation and Plackett's identity are exact, so the only errors are the quadrature's and
rounding. (a) Truncating the tanh-sinh sum at ``|t| = 3.5`` drops weight
``<= exp(-pi sinh 3.5) < 3e-23`` of a bounded integrand: rigorous, negligible. (b) The
trapezoid rule in ``t`` converges like ``exp(-c / h)``: the number of correct digits grows in
proportion to ``1/h``. Every simplicial piece is computed at levels 1, 2 and 3 (never reporting
the coarse levels' values) and the bound reported for level ``k`` is the larger of (i) the
change ``D_k = |V_k - V_(k-1)|`` (or ``D_k rho / (1 - rho)`` with ``rho = D_k / D_(k-1)`` when the
changes shrink by less than half per level, ``D_k + D_(k-1)`` when they do not shrink), which in
the asymptotic regime exceeds the error of ``V_k`` by about ``1 / error(V_(k-1))``, and (ii)
``S (D_(k-1) / S)^sqrt(2)``, the error a further level should leave if digits grow like ``1/h``,
taking ``D_(k-1)`` for the error two levels back (``S`` as in (c)). (ii) guards against two
consecutive levels agreeing by coincidence (the trapezoid error oscillates in ``h``); in a
validation on ~10^4 random, integer and thin 4-D/5-D/6-D simplices against level-8 values, (i)
alone was exceeded a handful of times at level 2 and never from level 3 on, (i) + (ii) never.
(c) A rounding floor ``16 d eps S kappa`` per piece, ``S`` being the sum of the absolute values
of all the terms the recursion adds (carried through it alongside the value) and ``kappa`` the
piece's flatness, the condition number of ``[v_1, unit(v_2 - v_1), ..., unit(v_d - v_1)]`` for its
unit rays (flat pieces amplify the recursion's rounding; thin but round ones do not). Measured
errors stayed below ``2 eps S kappa`` for random, thin and flat 4-D and 5-D pieces with
``kappa`` up to 1e9. (b) and (c) make the
bound an a-posteriori estimate, not a proof; the tests check that the truth lies inside it
(closed forms ``1/(n+1)``, ``2^-n``, products of exact lower-dimensional cones, an independent
ray-chart integral for thin cones, Monte Carlo and additivity). Levels are then raised, piece by
piece where the error is, until ``error_bound <= rtol * value``, or the floor prevents it (pieces
whose quadrature error is already below their floor are not refined), or level 8 is reached, or
``max_flops`` would be exceeded; the best value is returned with its (larger) bound. For
quadrature pieces the floor is absolute (``S`` is of order 0.1 to 1 even for tiny measures), so
relative accuracy is reached down to measures of about ``1e-14 kappa / rtol``; below that the
bound says so honestly. Thin pieces (2b), where tiny measures usually come from, are relative
throughout.

Cost model (FLOPs)
------------------
Counted analytically from array sizes, mirroring what the code does, then scaled by
``FLOPSCOPE_SCALE`` to symest's one cost model (:mod:`symest.flops`): one FLOP per element
for add, subtract, multiply, divide, compare, abs, max; ``TRANSCENDENTAL_FLOPS`` = 16 per
element for sin, cos, exp, log, atan2 (flopscope's weight); a dense ``(a x b) @ (b x c)``
product ``a b c`` (multiply-adds, as flopscope); a reduction of ``k`` numbers ``k``; a sort of
``k`` numbers ``k ceil(log2 k)``; an SVD of an ``m x n`` matrix (``m >= n``) ``4 m n^2 + 8 n^3``;
an ``r x r`` inverse ``2 r^3``; a QR of ``k`` columns of length ``D`` ``2 D k^2``. The orthant
recursion adds the cost of each step from the sizes of the arrays it actually processes (pairs
with ``rho = 0`` are skipped and not charged); the budget check before a level uses the
all-pairs upper bound. ``is_empty`` and ``remove_redundant`` return no cost (an LP would be
billed iterations x m x n). Python bookkeeping, copies and index arithmetic are free.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from symest._errors import BudgetError

__all__ = [
    "Cone",
    "Measure",
    "gaussian_measure",
    "gaussian_measures",
    "is_empty",
    "remove_redundant",
]

TRANSCENDENTAL_FLOPS = 16
"""FLOPs charged per element for trig, exp, log and atan2: flopscope's weight."""

FLOPSCOPE_SCALE = 4
"""Every count below is multiplied by this before it is reported: x2 because flopscope bills a
contraction's multiplies and adds separately (an overestimate for elementwise work, so the
conversion never undercharges) and x2 for float64 operands (flopscope's dtype billing)."""

_EPS = float(np.finfo(np.float64).eps)
_RANK_RTOL = 1e-12  # singular values below this times the largest count as zero
_RESIDUAL_TOL = 64 * _EPS  # rows moved less than this by dropping them: exact rank deficiency
_VERTEX_TOL = 64 * _EPS  # 3-D: a candidate vertex is feasible when every a . v >= -this
_FAN_OK = 1e-13  # 3-D: the fan's area is used when its rounding error is below this (or Girard's)
_MERGE_ANGLE = 1e-7  # r >= 4: normals closer than this are merged (error bound += angle / 2 pi)
_RAY_TOL = 1e-10  # |a . ray| below this: the ray lies on the hyperplane (unit a, unit ray)
_INTERIOR_TOL = 1e-11  # min_i a_i . (unit interior candidate) must exceed this
_SLAB_ANGLE = 1e-4  # r >= 4: two normals closer than this to antiparallel: the slab route (0b)
_SLAB_PARTS = (64, 8)  # the slab route splits its angle into at most this many parts (r <= 5, r >= 6)
_NORMALISE_ANGLE = 32 * _EPS  # normalising (or projecting) a row turns it by less than this
_DE_T = 3.5  # tanh-sinh nodes t in [-3.5, 3.5]
_DE_TAIL = 3e-23  # >= exp(-pi sinh 3.5): weight dropped by the truncation
_MAX_LEVEL = 8  # quadrature levels k: step h = 2^-(k/2 + 1); k = 1..8 have 21 to 225 nodes
_MAX_TAYLOR = 12  # thin pieces: Taylor orders up to this (rule with up to 13^(d-1) points)
_START_LEVELS = (1, 2, 3)  # every piece gets these three (21, 29, 41 nodes) before any bound
_CHUNK_ELEMS = 1 << 21  # bound on the elements of one expanded array in the recursion


# ----------------------------------------------------------------------------------------------
# Data types
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Cone:
    """The polyhedral cone ``{x in R^n : normals @ x >= 0}``.

    ``normals`` is an ``(m, n)`` float64 array (stored as a read-only copy, rows as given:
    normalisation and dropping of zero rows happen inside the functions of this module).
    ``m = 0`` is the whole space ``R^n``. Equality is identity (arrays do not compare as a whole).
    """

    normals: np.ndarray

    def __post_init__(self) -> None:
        a = np.array(self.normals, dtype=np.float64, copy=True)
        if a.ndim != 2:
            raise ValueError(f"cone normals must be a 2-D (m, n) array, got shape {a.shape}")
        if a.shape[1] < 1:
            raise ValueError("a cone needs dimension n >= 1")
        if not np.isfinite(a).all():
            raise ValueError("cone normals must be finite")
        a.setflags(write=False)
        object.__setattr__(self, "normals", a)

    @property
    def dim(self) -> int:
        """The ambient dimension ``n``."""
        return int(self.normals.shape[1])

    @property
    def n_constraints(self) -> int:
        """The number of rows ``m`` (zero rows and redundant rows included)."""
        return int(self.normals.shape[0])

    @classmethod
    def whole(cls, n: int) -> Cone:
        """The whole space ``R^n`` (no constraints)."""
        return cls(np.zeros((0, n)))

    def intersect(self, other_normals: np.ndarray) -> Cone:
        """``self ∩ {x : other_normals @ x >= 0}``; ``other_normals`` is ``(k, n)`` or one ``(n,)`` row."""
        b = np.asarray(other_normals, dtype=np.float64)
        if b.ndim == 1:
            b = b[None, :]
        if b.ndim != 2 or b.shape[1] != self.dim:
            raise ValueError(f"normals of shape {b.shape} do not fit a cone in R^{self.dim}")
        return Cone(np.vstack([self.normals, b]))


@dataclass(frozen=True)
class Measure:
    """A Gaussian measure with its error bound and cost.

    ``value`` in ``[0, 1]``; ``|value - truth| <= error_bound`` (``0.0`` means exact up to
    floating-point rounding); ``exact`` is True for closed forms (``r <= 3`` after removing the
    lineality space, and cones found to be empty); ``flops`` under the module's cost model.
    """

    value: float
    error_bound: float
    exact: bool
    flops: int


# ----------------------------------------------------------------------------------------------
# Cost helpers (see "Cost model" in the module docstring)
# ----------------------------------------------------------------------------------------------

_T = TRANSCENDENTAL_FLOPS


def _svd_flops(m: int, n: int) -> int:
    m, n = max(m, n), min(m, n)
    return 4 * m * n * n + 8 * n**3


def _sort_flops(k: int) -> int:
    return k * max(1, math.ceil(math.log2(max(k, 2))))


def _clean_flops(m: int, n: int) -> int:
    # row max-abs (abs + compare), scale, square, sum, sqrt, divide, zero test
    return m * (6 * n + _T + 1)


# ----------------------------------------------------------------------------------------------
# Preparation: normalise, drop zero rows, remove the lineality space
# ----------------------------------------------------------------------------------------------


def _unit_rows(a: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; zero rows removed (they say 0 >= 0)."""
    if a.shape[0] == 0:
        return a.copy()
    scale = np.abs(a).max(axis=1)
    keep = scale > 0
    b = a[keep] / scale[keep, None]
    return b / np.sqrt(np.einsum("ij,ij->i", b, b))[:, None]


def _dedupe(a: np.ndarray) -> np.ndarray:
    """Drop rows equal (to within 8 eps in every coordinate) to an earlier unit row."""
    m = a.shape[0]
    if m < 2:
        return a
    close = (np.abs(a[:, None, :] - a[None, :, :]) <= 8 * _EPS).all(axis=2)
    dup = np.triu(close, 1).any(axis=0)
    return a[~dup]


def _reduce(a: np.ndarray) -> tuple[np.ndarray, int, int, float]:
    """Project unit rows onto row(A); returns (rows in R^r, r, flops, moved). Rows stay unit length.

    Singular values below ``_RANK_RTOL`` times the largest are dropped, which turns each row
    ``a_i`` by the angle ``theta_i = asin |e_i|`` (``e_i`` its component along the dropped
    directions). The half-spaces before and after differ by two wedges of Gaussian measure
    ``theta_i / pi`` together, so the cone's measure moves by at most ``moved = sum theta_i / pi``.
    Residuals at the level of rounding (every ``|e_i| <= _RESIDUAL_TOL``) count as exact rank
    deficiency: ``moved = 0``.
    """
    m, n = a.shape
    if m == 0:
        return a, 0, 0, 0.0
    s = np.linalg.svd(a, compute_uv=False)
    r = int((s > _RANK_RTOL * s[0]).sum())
    flops = _svd_flops(m, n) + len(s)
    if r == n:
        return a, n, flops, 0.0
    vt = np.linalg.svd(a, full_matrices=False)[2]
    b = a @ vt[:r].T
    b = b / np.sqrt(np.einsum("ij,ij->i", b, b))[:, None]
    flops = 2 * flops + m * n * r + m * (3 * r + _T)
    moved = 0.0
    if r < len(s) and s[r] > _RESIDUAL_TOL:  # |e_i| <= s[r] for every i: else rounding level
        k = vt.shape[0] - r
        e = _norm(a @ vt[r:].T)
        flops += m * n * k + m * (2 * k + 2 * _T)
        if e.max() > _RESIDUAL_TOL:
            moved = float(np.arcsin(np.minimum(e, 1.0)).sum()) / np.pi
    return b, r, flops, moved


# ----------------------------------------------------------------------------------------------
# Exact measures in 1, 2 and 3 dimensions (vectorised over a batch of cones with equal m)
# ----------------------------------------------------------------------------------------------


def _measure1(a: np.ndarray) -> float:
    """r = 1: all normals are ±(one direction)."""
    s = a[:, 0]
    return 0.5 if (s > 0).all() or (s < 0).all() else 0.0


def _measure2_batch(a: np.ndarray) -> np.ndarray:
    """Sector measures of B cones in R^2; ``a`` is (B, m, 2) with unit rows, m >= 1."""
    bsz, m, _ = a.shape
    phi = np.arctan2(a[..., 1], a[..., 0])
    order = np.argsort(phi, axis=1)
    phis = np.take_along_axis(phi, order, axis=1)
    gaps = np.diff(np.concatenate([phis, phis[:, :1] + 2 * np.pi], axis=1), axis=1)
    j = np.argmax(gaps, axis=1)
    rows = np.arange(bsz)
    hi = a[rows, order[rows, j]]  # the last normal before the largest gap
    lo = a[rows, order[rows, (j + 1) % m]]  # the first normal after it
    cross = lo[:, 0] * hi[:, 1] - lo[:, 1] * hi[:, 0]
    dot = lo[:, 0] * hi[:, 0] + lo[:, 1] * hi[:, 1]
    ang = 2.0 * np.arctan2(_norm(lo + hi), _norm(lo - hi))  # angle(lo, -hi) = pi - angle(lo, hi)
    # empty unless the normals fit in an arc shorter than pi (an antiparallel pair: a line, 0)
    ang = np.where((gaps[rows, j] > np.pi) & ((np.abs(cross) > 64 * _EPS) | (dot > 0)), ang, 0.0)
    return ang / (2 * np.pi)


def _measure2_flops(m: int) -> int:
    return m * _T + _sort_flops(m) + 2 * m + m + 8 + 2 * _T


@functools.lru_cache(maxsize=128)
def _pairs(m: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(m, 1)


_LEVI_CIVITA = np.zeros((3, 3, 3))
_LEVI_CIVITA[0, 1, 2] = _LEVI_CIVITA[1, 2, 0] = _LEVI_CIVITA[2, 0, 1] = 1.0
_LEVI_CIVITA[0, 2, 1] = _LEVI_CIVITA[2, 1, 0] = _LEVI_CIVITA[1, 0, 2] = -1.0


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.size <= 96:  # one einsum call is cheapest for small arrays
        return np.einsum("ijk,...j,...k->...i", _LEVI_CIVITA, a, b)
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    np.subtract(a1 * b2, a2 * b1, out=out[..., 0])
    np.subtract(a2 * b0, a0 * b2, out=out[..., 1])
    np.subtract(a0 * b1, a1 * b0, out=out[..., 2])
    return out


def _cross_unit(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a x b`` for unit vectors, accurate in direction to a few eps even when ``a = ±b`` nearly,
    as ``a x (b -+ a)`` (the difference of close numbers is exact); also ``angle(a, b)``."""
    dm, dp = a - b, a + b
    ang = 2.0 * np.arctan2(_norm(dm), _norm(dp))
    return _cross(a, np.where((ang <= np.pi / 2)[..., None], -dm, dp)), ang


def _measure3_batch(a: np.ndarray) -> np.ndarray:
    """Spherical-polygon measures of B pointed cones in R^3; ``a`` is (B, m, 3), unit rows, rank 3.

    Two exact formulas are evaluated and, per cone, the better conditioned one is kept:
    the Van Oosterom–Strackee fan (relative accuracy for small polygons; its rounding error is
    about ``eps / sqrt(2 (1 + v1.v2)(1 + v2.v3)(1 + v3.v1))`` per triangle, large only when a
    triangle has almost antipodal vertices) and Girard's theorem in the form
    ``area = 2 pi - sum over vertices of the turning angle``, the turning angle at a vertex being
    the largest angle between normals tight there (absolute error of a few eps per vertex).
    """
    bsz, m, _ = a.shape
    ii, jj = _pairs(m)
    ai, aj = a[:, ii], a[:, jj]
    c, turn = _cross_unit(ai, aj)  # (B, P, 3), (B, P)
    cn = _norm(c)
    valid = cn > 0
    c /= np.where(valid, cn, 1.0)[..., None]
    flat = (~valid & (turn > np.pi / 2)).any(axis=1)  # a_i = -a_j: the cone lies in a plane
    cand = np.concatenate([c, -c], axis=1)  # (B, 2P, 3)
    pair_turn, turn = turn, np.concatenate([turn, turn], axis=1)
    # candidates are accurate to a few eps, so a vertex on a third plane evaluates to +-few eps
    # there; a looser tolerance would admit vertices just outside (an error of tol x perimeter)
    dots = cand @ a.transpose(0, 2, 1)
    feas = (dots >= -_VERTEX_TOL).all(axis=2)
    feas &= np.concatenate([valid, valid], axis=1)
    nfeas = feas.sum(axis=1)
    # order the feasible vertices by angle around their sum (an interior direction)
    cen = np.einsum("bp,bpk->bk", feas, cand)
    cen /= np.where(nfeas > 0, _norm(cen), 1.0)[:, None]
    # ... unless nearly antipodal vertices cancel in that sum, leaving it on the boundary (a
    # polygon close to a lune): then an interior point by LP (rare, ill-conditioned cones)
    margin = np.einsum("bk,bik->bi", cen, a).min(axis=1)
    far = np.where(feas, np.einsum("bpk,bk->bp", cand, cen), np.inf)  # cos of distance to cen
    spread = np.sqrt(np.maximum(2.0 - 2.0 * far.min(axis=1), 0.0))
    for b in np.flatnonzero((nfeas >= 3) & (margin <= 1e-8 * spread)):
        cen[b] = _interior_point(a[b], cen[b])
    ref = cand[np.arange(bsz), np.argmin(far, axis=1)]  # the feasible vertex farthest from cen
    e2 = _cross(cen, ref)
    e1 = _cross(e2, cen)
    ang = np.where(feas, np.arctan2(np.einsum("bpk,bk->bp", cand, e2), np.einsum("bpk,bk->bp", cand, e1)), np.inf)
    order = np.argsort(ang, axis=1)
    v = np.take_along_axis(cand, order[..., None], axis=1)
    turn = np.take_along_axis(turn, order, axis=1)
    pos = np.arange(v.shape[1])
    # Van Oosterom–Strackee fan from the first vertex
    v0 = np.broadcast_to(v[:, :1, :], v[:, 1:-1, :].shape)
    v1, v2 = v[:, 1:-1, :], v[:, 2:, :]
    d01 = np.einsum("bpk,bpk->bp", v0, v1)
    d12 = np.einsum("bpk,bpk->bp", v1, v2)
    d20 = np.einsum("bpk,bpk->bp", v2, v0)
    det = np.einsum("bpk,bpk->bp", v0, _cross(v1 - v0, v2 - v0))  # differences: exact for tiny triangles
    tri = pos[None, 2:] < nfeas[:, None]
    omega = np.where(tri, 2.0 * np.arctan2(np.abs(det), 1.0 + d01 + d12 + d20), 0.0)
    area_os = omega.sum(axis=1)
    cond = np.sqrt(np.maximum(2.0 * (1.0 + d01) * (1.0 + d12) * (1.0 + d20), 1e-300))
    err_os = 16 * _EPS * np.where(tri, 1.0 / cond, 0.0).sum(axis=1)
    # Girard: 2 pi - the sum of the turning angles, the polar polygon's perimeter. Vertices closer
    # than 1e-9 form one cluster (duplicates from several pairs of normals through one point, or
    # a corner cut off by a nearby plane). A cluster turns by the angle between the planes of
    # the edges that enter and leave it; each edge's plane is the normal tight (smallest
    # |a . v|) at both of its end clusters. That is ambiguous only for an edge between almost
    # antipodal clusters (every plane through that axis is tight at both ends) and in polygons
    # of fewer than three clusters; there the cluster turns by the largest angle between the
    # normals tight at its vertices (its chord), equal to the sum of its turns up to second
    # order in the cluster's size. The edge rule is the robust one otherwise: a vertex admitted
    # by the feasibility tolerance although just outside a nearly parallel plane (near-duplicate
    # normals) lies on its neighbour's edge planes and turns by 0, where its chord counts the
    # angle between those planes a second time.
    live = pos[None, :] < nfeas[:, None]
    new = np.ones(v.shape[:2], dtype=bool)
    new[:, 1:] = (np.abs(v[:, 1:] - v[:, :-1]).max(axis=2) > 1e-9) | (live[:, 1:] != live[:, :-1])
    pair = order % ii.size
    pi, pj = ii[pair], jj[pair]
    grid = np.zeros((bsz, m, m))  # angles between the normals
    grid[:, ii, jj] = grid[:, jj, ii] = pair_turn
    bix = np.arange(bsz)[:, None]
    same = live
    for k in range(1, v.shape[1]):  # chords: positions s and s + k in one cluster (rarely any)
        same = same[:, :-1] & live[:, k:] & ~new[:, k:]
        if not same.any():
            break
        a_i, a_j, b_i, b_j = pi[:, :-k], pj[:, :-k], pi[:, k:], pj[:, k:]
        cross_turn = np.maximum(
            np.maximum(grid[bix, a_i, b_i], grid[bix, a_i, b_j]), np.maximum(grid[bix, a_j, b_i], grid[bix, a_j, b_j])
        )
        turn[:, :-k] = np.maximum(turn[:, :-k], np.where(same, cross_turn, 0.0))
    # clusters of all cones, flattened: first position, cone, chord, smallest residual per normal
    flat_live = live.ravel()
    starts = np.flatnonzero(new.ravel())
    keep = flat_live[starts]
    chord = np.maximum.reduceat(turn.ravel(), starts)[keep]
    res = np.abs(np.take_along_axis(dots, order[..., None], axis=1)).reshape(-1, m)
    res = np.minimum.reduceat(res, starts, axis=0)[keep]
    starts = starts[keep]
    cone = starts // v.shape[1]
    rep = v.reshape(-1, 3)[starts]
    nvert = np.bincount(cone, minlength=bsz)
    idx = np.arange(starts.size)
    first = np.r_[True, cone[1:] != cone[:-1]] if starts.size else np.zeros(0, dtype=bool)
    lastc = np.r_[cone[1:] != cone[:-1], True] if starts.size else np.zeros(0, dtype=bool)
    head = np.maximum.accumulate(np.where(first, idx, 0))
    nxt = np.where(lastc, head, idx + 1)  # the next cluster of the same cone, cyclically
    prv = np.empty_like(nxt)
    prv[nxt] = idx
    score = np.maximum(res, res[nxt])  # (clusters, m): how far each plane is from both ends
    edge = np.argmin(score, axis=1)  # the plane of the edge from a cluster to the next
    sure = (score[idx, edge] <= _VERTEX_TOL) & (_norm(rep + rep[nxt]) > 1e-6) & (nvert[cone] >= 3)
    by_edges = grid[cone, edge[prv], edge]
    turns = np.where(sure & sure[prv], by_edges, chord)
    area_g = 2 * np.pi - np.bincount(cone, weights=turns, minlength=bsz)
    err_g = _EPS * (8 * np.pi + 8 * nvert)
    # The fan is kept whenever its rounding error is small in absolute terms, not only when it
    # beats Girard's: a vertex admitted by the feasibility tolerance although just outside a
    # third plane moves the fan by about that tolerance, while Girard's sum depends on the
    # edge planes and chords above being identified right (its errors are structural, not
    # rounding). One cluster: the polygon is a point or tiny (the fan is accurate; a single
    # chord would stand for a closed chain of normals around the whole circle).
    # A chord is never less than the turns it stands for (the triangle inequality among the
    # normals), so Girard's sum with chords is an upper bound. It is off at first order, though,
    # when a cluster is not small against the polygon's width (a slab cut by two planes about
    # 1e-9 apart measured 2.48e-10 for 2.12e-10): where it exceeds the fan by more than both
    # rounding errors, the fan is the one within its error.
    use_os = (err_os <= np.maximum(err_g, _FAN_OK)) | (nvert < 2) | (area_g - area_os > err_os + err_g)
    area = np.where(use_os, area_os, np.maximum(area_g, 0.0))
    # the cone lies in the lune of any two of its planes, of area 2 (pi - angle): this caps
    # slabs between almost antiparallel planes, too thin for either formula's vertices
    area = np.minimum(area, 2.0 * (np.pi - pair_turn.max(axis=1)))
    return np.where((nfeas >= 3) & ~flat, area, 0.0) / (4 * np.pi)


def _interior_point(a: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """A unit vector deep inside ``{x : a x >= 0}``: ``argmax min_i a_i . x`` over the box
    ``|x_j| <= 1`` (an LP); ``fallback`` when the cone has no interior."""
    from scipy.optimize import linprog

    m, n = a.shape
    res = linprog(
        np.r_[np.zeros(n), -1.0], A_ub=np.hstack([-a, np.ones((m, 1))]), b_ub=np.zeros(m),
        bounds=[(-1.0, 1.0)] * n + [(None, 1.0)], method="highs", options=_LP_OPTIONS,
    )
    if res.status != 0 or not -res.fun > 0:
        return fallback
    x = res.x[:n]
    return x / np.linalg.norm(x)


def _measure3_simplicial(a: np.ndarray) -> np.ndarray:
    """``_measure3_batch`` for m = 3 (a spherical triangle), from the dual basis directly."""
    # r_k ∝ ±(a_i x a_j), the rays up to one common sign (that of det(a)), which the fan's area
    # does not see: negating every vertex maps the triangle to its antipode, of equal area
    r = _cross_unit(a[:, [1, 2, 0]], a[:, [2, 0, 1]])[0]
    rn = _norm(r)
    r /= np.where(rn > 0, rn, 1.0)[..., None]
    d = np.einsum("bpk,bpk->bp", r, r[:, [1, 2, 0]])  # r0.r1, r1.r2, r2.r0
    vol = np.abs(np.einsum("bk,bk->b", r[:, 0], _cross(r[:, 1] - r[:, 0], r[:, 2] - r[:, 0])))
    area_os = 2.0 * np.arctan2(vol, 1.0 + d.sum(axis=1))
    err_os = 16 * _EPS / np.sqrt(np.maximum(2.0 * (1.0 + d).prod(axis=1), 1e-300))
    b = a[:, [1, 2, 0]]
    pair_turn = 2.0 * np.arctan2(_norm(a - b), _norm(a + b))
    area_g = 2 * np.pi - pair_turn.sum(axis=1)
    area = np.where(err_os <= _EPS * (8 * np.pi + 24), area_os, np.maximum(area_g, 0.0))
    area = np.minimum(area, 2.0 * (np.pi - pair_turn.max(axis=1)))  # inside each pair's lune
    # three independent normals always bound a cone with interior (a linear image of the
    # octant), so there is no emptiness test on det here: rank was decided by _reduce, and
    # nearly parallel rows make det tiny (even 0.0 in floating point) while the cone is close to
    # a half-space (Girard: 2 pi - the small angles between the normals)
    return area / (4 * np.pi)


def _measure3(a: np.ndarray) -> np.ndarray:
    """Measures of a batch of rank-3 cones (unit rows in R^3): :func:`_measure3_vertices`.

    Cones with empty interior need no separate test: their feasible candidates all coincide
    (one cluster of vertices), which the fan measures as 0. (An earlier Girard sum counted one
    turn for such a cluster and measured some empty cones with nearly parallel rows as about
    0.26; an LP emptiness test with tolerance 1e-9 then also zeroed thin non-empty cones.)"""
    return _measure3_vertices(a)


def _measure3_vertices(a: np.ndarray) -> np.ndarray:
    """Exact measures of B pointed cones in R^3, ``a`` (B, m, 3) unit rows of rank 3, in chunks."""
    bsz, m, _ = a.shape
    if m == 3:
        return _measure3_simplicial(a)
    step = max(1, (1 << 18) // (m * (m - 1) * m))
    if bsz <= step:
        return _measure3_batch(a)
    return np.concatenate([_measure3_batch(a[i : i + step]) for i in range(0, bsz, step)])


def _measure3_flops(m: int) -> int:
    if m == 3:  # _measure3_simplicial
        return 142 + 12 * _T
    p = m * (m - 1) // 2
    q = 2 * p
    return (
        9 * p + p * (5 + _T) + 5 * p  # cross, norm, validity, normalise, tolerance
        + p * (14 + 3 * _T)  # angles between the pair's normals
        + 3 * q * m + 2 * q * m  # candidate values (matmul) and feasibility
        + 3 * q + 3 * q + 10 + 4 * _T  # centre, basis
        + 4 * m + 4 * q + 8 + _T  # the centre's margin, distances to it, farthest vertex
        + 6 * q + q * _T + _sort_flops(q)  # angles, sort
        + q * (9 + 5 + 3 * 5 + 4 + _T + 2 + 8 + _T)  # fan triangles and their conditioning
        + q * 12  # duplicate detection, segment maxima
        + 4 * q * m + q * (12 + _T)  # edge planes: residuals, their cluster minima, scores, argmin
        + 2 * q + 8 + 2 * p  # sums; lune cap
    )


# ----------------------------------------------------------------------------------------------
# r >= 4: extreme rays (double description), facets, pulling triangulation
# ----------------------------------------------------------------------------------------------


def _extreme_rays(a: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Extreme rays of the pointed cone {x in R^r : a x >= 0} (a: (m, r) unit rows, rank r).

    Returns (rays (k, r) unit rows, tight (k, m) bool incidences, flops).
    """
    import scipy.linalg

    m, r = a.shape
    _, _, piv = scipy.linalg.qr(a.T, mode="economic", pivoting=True)
    basis = np.sort(piv[:r])
    rays = np.linalg.inv(a[basis]).T.copy()
    rays /= np.sqrt(np.einsum("ij,ij->i", rays, rays))[:, None]
    flops = 4 * m * r * r + 2 * r**3 + r * (3 * r + _T)
    tight = np.zeros((r, m), dtype=bool)
    tight[:, basis] = True
    tight[np.arange(r), basis] = False
    rest = [i for i in range(m) if i not in set(basis.tolist())]
    for i in rest:
        v = rays @ a[i]
        k = rays.shape[0]
        flops += k * r + 2 * k
        pos = np.nonzero(v > _RAY_TOL)[0]
        neg = np.nonzero(v < -_RAY_TOL)[0]
        zero = np.abs(v) <= _RAY_TOL
        if neg.size == 0:
            tight[zero, i] = True
            continue
        new_rays = np.zeros((0, r))
        new_tight = np.zeros((0, m), dtype=bool)
        if pos.size:
            common = tight[pos][:, None, :] & tight[neg][None, :, :]
            cnt = common.sum(axis=2)
            pi, ni = np.nonzero(cnt >= r - 2)
            flops += 2 * pos.size * neg.size * m
            if pi.size:
                com = common[pi, ni]
                sub = ~(com[:, None, :] & ~tight[None, :, :]).any(axis=2)
                adj = sub.sum(axis=1) == 2
                flops += 3 * pi.size * k * m
                p, q = pos[pi[adj]], neg[ni[adj]]
                new_rays = v[p, None] * rays[q] - v[q, None] * rays[p]
                new_rays /= np.sqrt(np.einsum("ij,ij->i", new_rays, new_rays))[:, None]
                new_tight = com[adj].copy()
                new_tight[:, i] = True
                flops += p.size * (6 * r + _T)
        keep = ~(v < -_RAY_TOL)
        tight[zero, i] = True
        rays = np.concatenate([rays[keep], new_rays])
        tight = np.concatenate([tight[keep], new_tight])
        if flops > budget:
            raise BudgetError(f"cone measure needs more than max_flops={budget:.3g} (ray enumeration)")
    return rays, tight, flops


def _maximal(sets: list[frozenset]) -> list[int]:
    """Indices of the distinct sets (first of equals) that are not proper subsets of another."""
    keep: list[int] = []
    for i, si in enumerate(sets):
        if any(si < sj for sj in sets) or any(si == sets[j] for j in keep):
            continue
        keep.append(i)
    return keep


def _facets(tight: np.ndarray, r: int) -> tuple[list[int], int]:
    """One constraint per facet: the maximal ray-incidence sets (of at least r - 1 rays).

    Combinatorial, so it agrees with the double description's own incidences: every face of a
    polyhedral cone is cut out by the facet hyperplanes, and the facets are its maximal proper
    faces. (A numerical rank test would misjudge thin faces of nearly degenerate cones.)
    """
    sets = [frozenset(np.nonzero(tight[:, i])[0].tolist()) for i in range(tight.shape[1])]
    cand = [i for i in range(len(sets)) if len(sets[i]) >= r - 1]
    keep = _maximal([sets[i] for i in cand])
    return [cand[j] for j in keep], len(sets) * len(sets) * tight.shape[0]


def _triangulate(rays: np.ndarray, tight: np.ndarray, facets: list[int], r: int) -> tuple[list[tuple[int, ...]], int]:
    """Pulling triangulation of the pointed cone spanned by ``rays``: simplices as ray-index tuples.

    The facets of a face F are the maximal proper sets among ``F ∩ (facet incidence sets)``
    (purely combinatorial, see ``_facets``); pull the lowest-numbered ray v0 of F and recurse
    into the facets of F that do not contain it.
    """
    facet_sets = [frozenset(np.nonzero(tight[:, i])[0].tolist()) for i in facets]
    memo: dict[frozenset, list[tuple[int, ...]]] = {}
    work = [0]

    def tri(face: frozenset, d: int) -> list[tuple[int, ...]]:
        if len(face) <= d:  # simplicial (fewer rays: inconsistent input, a flat piece, dropped later)
            return [tuple(sorted(face))] if len(face) == d else []
        if face in memo:
            return memo[face]
        v0 = min(face)
        subs = list({face & fs for fs in facet_sets if len(face & fs) >= d - 1 and face & fs != face})
        work[0] += len(facet_sets) * len(face) + len(subs) ** 2 * len(face)
        out: list[tuple[int, ...]] = []
        for j in _maximal(subs):
            if v0 not in subs[j]:
                out.extend((v0, *s) for s in tri(subs[j], d - 1))
        memo[face] = out
        return out

    return tri(frozenset(range(rays.shape[0])), r), work[0]


def _simplex_normals(mats: np.ndarray, with_mask: bool = False, with_sens: bool = False) -> tuple:
    """Inward unit normals of simplicial cones given by their rays (S, r, r) (rays as rows).

    Normal k is the null vector of the other r - 1 rays (last right-singular vector), oriented
    towards ray k. Unlike the rows of the inverse, this stays accurate for flat (sliver) pieces,
    whose condition number can be huge while each facet's own rays are well spread. Pieces
    whose rays are numerically dependent (no interior) are dropped.

    ``with_sens`` (used the other way round, rays from a simplicial cone's normals): also the
    relative change of the measure that the rounding of the results may cause, ``sum_k theta_k /
    |n_k . m_k|`` with ``theta_k = 4 r eps / sigma_min`` the null vector's angular error (the
    smallest singular value of the other ``r - 1`` rows) and ``|n_k . m_k|`` the height of
    result ``n_k`` over the hyperplane of the others (moving a vertex of a thin simplex by
    ``theta`` changes its volume by ``theta / height`` relative). Almost antiparallel normals
    make ``sigma_min`` small; the ray-chart route (2b), which uses these rays, adds this.
    """
    nsimp, r, _ = mats.shape
    others = np.array([[j for j in range(r) if j != k] for k in range(r)])
    sub = mats[:, others]  # (S, r, r-1, r)
    _, sv, vt = np.linalg.svd(sub, full_matrices=True)  # (S, r, r-1), (S, r, r, r)
    nrm = vt[:, :, -1, :]  # (S, r, r)
    side = np.einsum("skd,skd->sk", nrm, mats)
    nrm = nrm * np.sign(side)[..., None]
    ok = (np.abs(side) > 1e-13).all(axis=1)
    flops = nsimp * r * (_svd_flops(r, r - 1) + 4 * r)
    out = (nrm[ok], flops, ok) if with_mask else (nrm[ok], flops)
    if with_sens:
        theta = 4 * r * _EPS / np.maximum(sv[..., -1], 1e-300)
        out = (*out, (theta / np.maximum(np.abs(side), 1e-300)).sum(axis=1)[ok])
    return out


# ----------------------------------------------------------------------------------------------
# Orthant probabilities P(U X >= 0) by Plackett's reduction and tanh-sinh quadrature
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _de_rule(level: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tanh-sinh nodes x in (0, 1), complements 1 - x, weights; step h = 2^-(level/2 + 1), |t| <= ~3.5."""
    h = 2.0 ** -(level / 2 + 1)
    j = math.ceil(_DE_T / h - 1e-9)
    t = np.arange(-j, j + 1) * h
    u = np.pi * np.sinh(t)
    x = 1.0 / (1.0 + np.exp(-u))
    c = 1.0 / (1.0 + np.exp(u))
    w = h * np.pi * np.cosh(t) * x * c
    for arr in (x, c, w):
        arr.setflags(write=False)
    return x, c, w


def _norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...k,...k->...", x, x))


def _p2(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """P(u.X >= 0, v.X >= 0) for unit u, v: (pi - angle(u, v)) / (2 pi), accurate at both ends."""
    return np.arctan2(_norm(u + v), _norm(u - v)) / np.pi


def _orthant(u: np.ndarray, level: int, acc: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Orthant probabilities P(U_b X >= 0) for a batch U of shape (B, d, D) (rows need not be unit).

    Returns (values, scales): a scale is the sum of the absolute values of all terms added on the
    way (rounding errors are a small multiple of eps times it). ``acc[0]`` accumulates the
    FLOPs spent, computed from the array sizes of each step.
    """
    bsz, d, dd = u.shape
    if d == 0:
        return np.ones(bsz), np.ones(bsz)
    acc[0] += bsz * _base_flops(d, dd)
    nrm = _norm(u)
    u = u / np.where(nrm > 0, nrm, 1.0)[..., None]
    if d == 1:
        return np.full(bsz, 0.5), np.full(bsz, 0.5)
    if d == 2:
        p = _p2(u[:, 0], u[:, 1])
        return p, p
    if d == 3:
        half = 0.5 * (_p2(u[:, 0], u[:, 1]) + _p2(u[:, 0], u[:, 2]) + _p2(u[:, 1], u[:, 2]))
        return half - 0.25, half + 0.25
    q = _de_rule(level)[0].size
    chunk = max(1, _CHUNK_ELEMS // ((d - 1) * q * (d - 2) * (d - 1)))
    if bsz > chunk:
        parts = [_orthant_rec(u[s : s + chunk], level, acc) for s in range(0, bsz, chunk)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return _orthant_rec(u, level, acc)


@functools.lru_cache(maxsize=32)
def _rest_index(d: int) -> np.ndarray:
    last = d - 1
    return np.array([[k for k in range(last) if k != i] for i in range(last)], dtype=np.intp)


def _coords(v: np.ndarray) -> np.ndarray:
    """Rows (N, k, D) re-expressed isometrically in R^k: the rows of R^T where v^T = Q R."""
    k = v.shape[1]
    if k == 1:
        return _norm(v)[:, :, None]
    if k == 2:  # two-column Gram–Schmidt
        r1 = _norm(v[:, 0])
        q1 = v[:, 0] / np.where(r1 > 0, r1, 1.0)[:, None]
        r12 = np.einsum("nd,nd->n", v[:, 1], q1)
        r22 = _norm(v[:, 1] - r12[:, None] * q1)
        out = np.zeros((v.shape[0], 2, 2))
        out[:, 0, 0], out[:, 1, 0], out[:, 1, 1] = r1, r12, r22
        return out
    return np.swapaxes(np.linalg.qr(np.swapaxes(v, 1, 2), mode="r"), 1, 2)


def _project_off(v: np.ndarray, u: np.ndarray, c: np.ndarray, careful: bool) -> np.ndarray:
    """Rows ``v`` (N, k, D) projected off the unit vectors ``u`` (N, D); ``c = v . u`` (N, k).

    ``careful`` (the caller's test: some row within about 2.5 degrees of parallel or
    antiparallel to its ``u``): evaluated as ``s - (s . u) u`` with ``s = v - sign(c) |v| u``, the same vector
    (``s - v`` is along ``u``), but the difference ``s`` of nearly equal numbers is formed first,
    so the small result keeps its direction to a few eps, where ``v - c u`` is off by
    ``eps / sin(angle)`` in angle. That error is fixed per pair (the same at every quadrature
    level, so the level differences do not see it) and lands in O(1) terms that cancel to a tiny
    measure: an almost antiparallel pair of normals at angle ``pi - 5e-9`` once gave 3.577e-10
    for 3.772e-10 with a bound of 7e-14. Otherwise the plain form loses at most a factor 23,
    inside the rounding floor ``16 d eps S kappa`` (``d >= 4``).
    """
    if not careful:
        return v - c[..., None] * u[:, None, :]
    s = v - np.copysign(_norm(v), c)[..., None] * u[:, None, :]
    return s - np.einsum("nkd,nd->nk", s, u)[..., None] * u[:, None, :]


def _leaves(up: np.ndarray, hk: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_k and its scale for the rows W_r = [up_r, hk_r tau] (k = 2, 3), for every node at once.

    up (N, k, k), hk (N, k), tau (N, q); returns arrays (N * q,). Same formulas as _orthant.
    """
    k = up.shape[1]
    ht = hk[:, :, None] * tau[:, None, :]  # (N, k, q): the last coordinate of each row
    inv = 1.0 / np.sqrt(np.einsum("nkc,nkc->nk", up, up)[:, :, None] + ht * ht)  # (N, k, q)
    ht = ht * inv
    p2 = []
    for r, t in ((0, 1), (0, 2), (1, 2))[: 1 if k == 2 else 3]:
        a, b = up[:, r, :, None] * inv[:, None, r, :], up[:, t, :, None] * inv[:, None, t, :]  # (N, k, q)
        plus = np.sqrt(((a + b) ** 2).sum(axis=1) + (ht[:, r] + ht[:, t]) ** 2)
        minus = np.sqrt(((a - b) ** 2).sum(axis=1) + (ht[:, r] - ht[:, t]) ** 2)
        p2.append(np.arctan2(plus, minus) / np.pi)
    if k == 2:
        return p2[0].ravel(), p2[0].ravel()
    half = 0.5 * (p2[0] + p2[1] + p2[2])
    return (half - 0.25).ravel(), (half + 0.25).ravel()


def _leaf_flops(k: int) -> int:
    """Per node: the k rows' norms and the closed form of _leaves."""
    pairs = 1 if k == 2 else 3
    return k * (2 * k + 3 + _T) + pairs * (2 * k + 6 * (k + 1) + 2 * _T + _T + 1) + (4 if k == 3 else 0)


def _orthant_rec(u: np.ndarray, level: int, acc: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Plackett step for unit rows u (B, d, D), d >= 4 (see the module docstring)."""
    bsz, d, dd = u.shape
    last = d - 1
    x, c, w = _de_rule(level)
    head, head_scale = _orthant(u[:, :last], level, acc)
    head, head_scale = 0.5 * head, 0.5 * head_scale
    ui = u[:, :last]  # (B, L, D)
    ul = u[:, last]  # (B, D)
    dm = _norm(ui - ul[:, None, :])
    dp = _norm(ui + ul[:, None, :])
    theta = 2.0 * np.arctan2(dm, dp)  # angle(u_i, u_L)
    theta_c = 2.0 * np.arctan2(dp, dm)  # pi - angle
    psi1 = 0.5 * (theta_c - theta)  # asin(rho_iL), accurate
    # pairs with |asin rho_iL| <= 8 eps contribute at most 8 eps / (2 pi) (covered by the rounding
    # floor): skip them; keep the others, flattened to (N,)
    bi, ii = np.nonzero(np.abs(psi1) > 8 * _EPS)
    acc[0] += bsz * (last * _angle_flops(dd) + 1)
    if bi.size == 0:
        return head, head_scale
    psi1 = psi1[bi, ii]
    thp = np.minimum(theta, theta_c)[bi, ii]  # pi/2 - |psi1|, accurate
    ui, ul = u[bi, ii], u[bi, last]  # (N, D)
    rho = np.einsum("nd,nd->n", ui, ul)
    ur = u[bi[:, None], _rest_index(d)[ii]]  # (N, d-2, D)
    # projections off u_i and e_L by _project_off: rows almost parallel or antiparallel to the
    # direction projected out (an almost antiparallel pair of normals) keep a direction
    # accurate to a few eps, where v - (v.u) u would leave a rounding error of eps / sin(angle)
    ck = np.einsum("nkd,nd->nk", ur, ui)
    c_max = float(np.abs(ck).max())
    ut = _project_off(ur, ui, ck, c_max > 0.999)
    lt = _project_off(ul[:, None, :], ui, rho[:, None], float(thp.min()) < 0.0447)[:, 0]  # |rho| > 0.999
    ln = _norm(lt)
    el = lt / np.where(ln > 0, ln, 1.0)[:, None]
    hk = np.einsum("nkd,nd->nk", ut, el)  # (N, d-2)
    # careful unless every |hk| is well below |ut| (|ut|^2 = 1 - ck^2, to rounding): a quick
    # test against the smallest |ut| first, then row by row
    careful = float(np.abs(hk).max()) > 0.999 * math.sqrt(max(1.0 - c_max * c_max - 4 * _EPS, 0.0))
    careful = careful and bool((hk * hk > 0.998 * (1.0 - ck * ck) - 4 * _EPS).any())
    up = _coords(_project_off(ut, el, hk, careful))  # (N, d-2, d-2)
    ps = psi1[:, None]
    sp = np.sin(ps)
    s = np.sin(ps * x) / sp  # (N, q)
    oms = 2.0 * np.cos(0.5 * ps * (1.0 + x)) * np.sin(0.5 * ps * c) / sp  # 1 - s
    cosx = np.sin(thp[:, None] + np.abs(ps) * c)  # cos(psi) = cos(psi1 x)
    tau = np.sqrt(np.maximum(oms * (1.0 + s), 0.0)) / np.where(cosx > 0, cosx, 1.0)
    n, q, k = bi.size, x.size, d - 2
    acc[0] += n * _pair_flops(d, dd, q)
    if k <= 3:  # closed-form leaves, evaluated without building the rows W
        acc[0] += n * q * _leaf_flops(k)
        vals, scales = _leaves(up, hk, tau)
    else:
        wrows = np.empty((n, q, k, k + 1))
        wrows[..., :k] = up[:, None, :, :]
        wrows[..., k] = hk[:, None, :] * tau[..., None]
        vals, scales = _orthant(wrows.reshape(n * q, k, k + 1), level, acc)
    contrib = np.zeros(bsz)
    np.add.at(contrib, bi, psi1 * (vals.reshape(n, q) @ w))
    cscale = np.zeros(bsz)
    np.add.at(cscale, bi, np.abs(psi1) * (scales.reshape(n, q) @ w))
    return head + contrib / (2 * np.pi), head_scale + cscale / (2 * np.pi)


def _base_flops(d: int, dd: int) -> int:
    """One matrix of d rows in R^dd: normalising, plus the closed form when d <= 3."""
    f = d * (3 * dd + _T)
    if d == 2:
        f += 6 * dd + 3 * _T + 1
    elif d == 3:
        f += 3 * (6 * dd + 3 * _T + 1) + 4
    return f


def _angle_flops(dd: int) -> int:
    """Angles and asin(rho) between one pair of rows in R^dd."""
    return 6 * dd + 2 * _T + 6


def _pair_flops(d: int, dd: int, q: int) -> int:
    """One nonzero pair of a Plackett step (without the recursive orthant calls)."""
    k = d - 2
    f = 2 * dd + 4 * dd * k + 2 * dd + (2 * dd + _T) + dd + 2 * dd * k + 2 * dd * k  # projections
    f += 2 * dd * k * k if k >= 3 else (3 * dd + 2 * _T + 4 if k == 2 else dd + _T)  # coordinates
    f += _T + q * (4 * _T + 14 + k)  # s, 1 - s, cos psi, tau, last column
    f += 2 * q + 3  # quadrature and accumulation
    return f


@functools.lru_cache(maxsize=512)
def _orthant_flops(d: int, dd: int, q: int) -> int:
    """FLOPs of one orthant probability of d rows in R^dd, q nodes, every pair nonzero (an upper bound)."""
    f = _base_flops(d, dd)
    if d <= 3:
        return f
    last = d - 1
    f += _orthant_flops(last, dd, q) + last * _angle_flops(dd) + 1
    leaf = _leaf_flops(d - 2) if d - 2 <= 3 else _orthant_flops(d - 2, d - 1, q)
    f += last * (_pair_flops(d, dd, q) + q * leaf)
    return f


# ----------------------------------------------------------------------------------------------
# Thin simplicial cones: the ray-chart integral with a rigorous Taylor bracket
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _simplex_rule(d: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Conical-product Gauss–Jacobi rule on the simplex {t >= 0, sum t = 1} (Lebesgue measure of
    the first d - 1 coordinates, total 1/(d-1)!): points t (d, p^(d-1)) and positive weights.
    Exact for polynomials of total degree <= 2p - 1 (Duffy's collapsed coordinates, the Jacobian
    (1 - u_i)^(d-2-i) taken as the Jacobi weight of coordinate i)."""
    from scipy.special import roots_jacobi

    us, ws = [], []
    for i in range(d - 1):
        alpha = d - 2 - i
        x, w = roots_jacobi(p, alpha, 0.0)
        us.append((1 + x) / 2)
        ws.append(w / 2.0 ** (alpha + 1))
    grid = [g.ravel() for g in np.meshgrid(*us, indexing="ij")]
    wts = functools.reduce(np.multiply, [g.ravel() for g in np.meshgrid(*ws, indexing="ij")])
    t = np.empty((d, grid[0].size))
    rem = np.ones_like(grid[0])
    for i in range(d - 1):
        t[i] = rem * grid[i]
        rem = rem * (1 - grid[i])
    t[d - 1] = rem
    t.setflags(write=False)
    wts.setflags(write=False)
    return t, wts


def _ray_chart_terms(rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For unit rays (S, d, d): H = 1 - v_i.v_j (from differences), Qmax >= max Q on the simplex
    (0 where the rays are not in an open hemisphere about their mean: not thin), |det V|."""
    dv = rays[:, :, None, :] - rays[:, None, :, :]
    h = 0.5 * np.einsum("sijk,sijk->sij", dv, dv)
    u = rays.sum(axis=1)
    u /= _norm(u)[:, None]
    gap = 0.5 * np.einsum("sik,sik->si", rays - u[:, None, :], rays - u[:, None, :]).max(axis=1)  # 1 - min u.v_i
    qmax = np.where(gap < 1.0, gap * (2.0 - gap), 1.0)  # 1 - (min u.v_i)^2
    edges = rays.copy()
    edges[:, 1:] -= rays[:, :1]
    det = np.abs(np.linalg.det(edges))  # det[v1, v2 - v1, ...] = det V, well scaled for thin cones
    return h, qmax, det


def _taylor_order(d: int, qmax: np.ndarray, rtol: float) -> np.ndarray:
    """Smallest K (0 where none <= _MAX_TAYLOR) with c_K Qmax^K (1 - Qmax)^(-d/2 - K) <= rtol."""
    a = d / 2
    order = np.zeros(qmax.shape, dtype=int)
    for k in range(_MAX_TAYLOR, 0, -1):
        ck = math.exp(math.lgamma(a + k) - math.lgamma(a) - math.lgamma(k + 1))
        with np.errstate(divide="ignore", over="ignore"):
            rel = ck * qmax**k * (1.0 - qmax) ** (-a - k)
        order = np.where(rel <= rtol, k, order)
    return order


def _ray_chart(
    rays: np.ndarray, h: np.ndarray, qmax: np.ndarray, det: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Measures of thin simplicial cones (unit rays (S, d, d)) with rigorous bounds, Taylor order k.

    gamma = |det V| Gamma(d/2) / (2 pi^(d/2)) int_simplex (1 - Q(t))^(-d/2) dt, Q = t^T H t >= 0.
    With T_k the Taylor polynomial of degree k - 1 in Q and c_k its next coefficient,
    0 <= f - T_k <= c_k Q^k (1 - Qmax)^(-d/2-k). The rule (degree 2k + 1, positive weights)
    integrates T_k and Q^k exactly, so both the integral and the rule's value lie in
    [rule(T_k), rule(T_k) + c_k (1 - Qmax)^(-d/2-k) rule(Q^k)]: the rule's value is returned with
    that width (plus 16 d eps relative for rounding) as its bound.
    """
    nsimp, d, _ = rays.shape
    a = d / 2
    t, w = _simplex_rule(d, k + 1)
    q = np.einsum("sip,ip->sp", h @ t, t)  # (S, P)
    val = (1.0 - q) ** (-a) @ w
    ck = math.exp(math.lgamma(a + k) - math.lgamma(a) - math.lgamma(k + 1))
    width = ck * (1.0 - qmax) ** (-a - k) * (q**k @ w)
    const = math.gamma(a) / (2 * math.pi**a) * det
    value = const * val
    npts = t.shape[1]
    flops = nsimp * (npts * (d * d + 2 * d + 3 * _T + 4 + k) + 2 * d**3 + 4 * d * d)
    return value, const * width + 16 * d * _EPS * value, flops


def _bound(d_new: np.ndarray, d_old: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Error bound of level k from the changes d_new = |V_k - V_(k-1)|, d_old = |V_(k-1) - V_(k-2)|.

    The larger of (i) ``d_new`` (``d_new * rho / (1 - rho)``, ``rho = d_new / d_old``, if the
    changes shrink by less than half per level, ``d_new + d_old`` if they do not shrink), and
    (ii) the error one more level should leave if the digits grow in proportion to 1/h,
    ``scale * (d_old / scale)^sqrt(2)`` (``d_old`` standing for the error of level k-2). (ii)
    guards against two consecutive levels agreeing by coincidence (the trapezoid error
    oscillates in h).
    """
    rho = d_new / np.where(d_old > 0, d_old, 1.0)
    rich = d_new * rho / np.where(rho < 1, 1.0 - rho, 1.0)
    first = np.where(rho <= 0.5, d_new, np.where(rho < 1, rich, d_new + d_old))
    sc = np.where(scale > 0, scale, 1.0)
    return np.maximum(first, sc * np.minimum(d_old / sc, 1.0) ** math.sqrt(2))


def _flatness(rays: np.ndarray) -> tuple[np.ndarray, int]:
    """Condition number of [v_1, unit(v_2 - v_1), ..., unit(v_d - v_1)] for unit rays (S, d, d).

    Large for flat pieces (a ray close to the hyperplane of the others), which amplify the
    rounding of the orthant recursion, and moderate for thin but round cones (whose normals are
    ill-conditioned without any such amplification).
    """
    nsimp, d, _ = rays.shape
    e = rays.copy()
    e[:, 1:] -= rays[:, :1]
    e[:, 1:] /= np.maximum(_norm(e[:, 1:]), 1e-300)[..., None]
    sv = np.linalg.svd(e, compute_uv=False)
    return sv[:, 0] / np.maximum(sv[:, -1], 1e-300), nsimp * (_svd_flops(d, d) + 4 * d * d)


def _orthant_levels(
    rows: np.ndarray, rtol: float, budget: float, spent: int, flat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Orthant probabilities of the simplicial pieces ``rows`` (S, d, D) and their error bounds.

    Levels 1, 2, 3 are computed for every piece; then pieces whose bound exceeds their share of
    ``rtol * value`` are raised one level at a time. Raises BudgetError when the first three
    levels do not fit in ``budget - spent``.
    """
    npieces, d, dd = rows.shape

    def cost(level: int, count: int) -> int:
        return count * _orthant_flops(d, dd, _de_rule(level)[0].size)

    first = sum(cost(k, npieces) for k in _START_LEVELS)
    if spent + first > budget:
        raise BudgetError(f"cone measure needs more than max_flops={budget:.3g} (orthant quadrature)")
    acc = [0]
    v0, v1, (val, scale) = (_orthant(rows, k, acc) for k in _START_LEVELS)
    v0, v1 = v0[0], v1[0]
    d_old, diff = np.abs(v1 - v0), np.abs(val - v1)
    err = _bound(diff, d_old, scale)
    level = np.full(npieces, _START_LEVELS[-1])
    def floor_of(sc: np.ndarray, sel: slice | np.ndarray = slice(None)) -> np.ndarray:
        return 16 * d * _EPS * sc * flat[sel] + _DE_TAIL * d


    floor = floor_of(scale)
    while True:
        total = float(val.sum())
        target = rtol * abs(total)
        if float((err + floor).sum()) <= target:
            break
        share = target * np.abs(val) / total if total > 0 else np.full(npieces, target / npieces)
        # worth refining: the quadrature part is above both what this piece may spend and the
        # rounding floor (below the floor, more nodes cannot help)
        todo = np.nonzero((err > np.maximum(share - floor, floor)) & (level < _MAX_LEVEL))[0]
        if todo.size == 0:
            break
        # refine the worst pieces first, as many as the budget allows
        todo = todo[np.argsort(-err[todo])]
        nxt = level[todo] + 1
        costs = np.array([cost(int(k), 1) for k in nxt])
        afford = np.cumsum(costs) <= budget - spent - acc[0]
        todo, nxt = todo[afford], nxt[afford]
        if todo.size == 0:
            break
        for k in np.unique(nxt):
            sel = todo[nxt == k]
            new, sc = _orthant(rows[sel], int(k), acc)
            floor[sel] = floor_of(sc, sel)
            dnew = np.abs(new - val[sel])
            err[sel] = _bound(dnew, diff[sel], sc)
            diff[sel] = dnew
            val[sel] = new
            level[sel] = k
    return val, err + floor, spent + acc[0] + 4 * npieces * (level.max() + 1)


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def _scaled(m: Measure) -> Measure:
    return Measure(m.value, m.error_bound, m.exact, FLOPSCOPE_SCALE * m.flops)


def _exact(value: float, flops: int) -> Measure:
    return Measure(value=float(value), error_bound=0.0, exact=True, flops=int(flops))


def _check_budget(flops: int, max_flops: float) -> None:
    if flops > max_flops:
        raise BudgetError(f"cone measure needs {flops} FLOPs, more than max_flops={max_flops:.3g}")


def _prepare(cone: Cone) -> tuple[np.ndarray, int, int, float]:
    """Unit rows projected onto the row space: (rows (m, r), r, flops, moved), ``moved`` the
    bound of :func:`_reduce` on what dropping tiny singular values did to the measure."""
    return _prepare_rows(cone.normals)


def _prepare_rows(rows: np.ndarray) -> tuple[np.ndarray, int, int, float]:
    """:func:`_prepare` for the normals ``rows`` (m, n) of a cone."""
    m, n = rows.shape
    a = _unit_rows(rows)
    b, r, f, moved = _reduce(a)
    return b, r, _clean_flops(m, n) + f, moved


def _loosen(meas: Measure, extra: float) -> Measure:
    """``meas`` for a cone moved by at most ``extra`` (in measure): no longer exact."""
    if extra <= 0:
        return meas
    return Measure(meas.value, meas.error_bound + extra, False, meas.flops)


def _merge_close(a: np.ndarray) -> tuple[np.ndarray, float]:
    """Drop each unit row within angle ``_MERGE_ANGLE`` of an earlier kept row.

    Dropping ``a_j`` next to a kept ``a_i`` at angle ``delta`` enlarges the cone by a subset of
    the wedge ``{a_i . x >= 0 > a_j . x}``, whose Gaussian measure is exactly ``delta / (2 pi)``:
    returns the rows kept and the sum of those amounts (added to the error bound). Two planes
    this close would otherwise make the ray enumeration's zero tests ambiguous.
    """
    m = a.shape[0]
    if m < 2:
        return a, 0.0
    ang = 2.0 * np.arctan2(_norm(a[:, None, :] - a[None, :, :]), _norm(a[:, None, :] + a[None, :, :]))
    keep = np.ones(m, dtype=bool)
    extra = 0.0
    for j in range(1, m):
        close = keep[:j] & (ang[j, :j] < _MERGE_ANGLE)
        if close.any():
            keep[j] = False
            extra += float(ang[j, :j][close].min()) / (2 * np.pi)
    return a[keep], extra


def _slab_pair(a: np.ndarray) -> tuple[int, int, float, int]:
    """The most nearly antiparallel pair of unit rows: (i, j, pi - angle(a_i, a_j), flops); the
    angle is only evaluated (accurately, from ``|a_i + a_j|``) when the pair is within
    ``_SLAB_ANGLE`` of antiparallel (``inf`` otherwise)."""
    m, r = a.shape
    g = a @ a.T
    k = int(np.argmin(g))
    i, j = divmod(k, m)
    flops = m * m * (r + 1)
    if not g[i, j] < -math.cos(2 * _SLAB_ANGLE):
        return i, j, math.inf, flops
    gap = 2.0 * math.atan2(float(np.linalg.norm(a[i] + a[j])), float(np.linalg.norm(a[i] - a[j])))
    return i, j, gap, flops + 6 * r + 2 * _T


def _facet_sums(b: np.ndarray, rtol: float, budget: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``h = sqrt(2 pi) E[X_k 1_K(X)]`` for ``G`` cones ``K = {x in R^k : b x >= 0}`` (``b`` is
    (G, M, k); each ``K`` lies in ``{x_k >= 0}``), ``X`` standard Gaussian: (h, error bounds, flops).

    Gaussian integration by parts: ``E[X_k 1_K] = sum over facets F of (e_k . n_F) gamma(F) /
    sqrt(2 pi)``, ``n_F`` the inward unit normal and ``gamma(F)`` the Gaussian measure of ``F``
    in its own ``(k-1)``-dimensional hyperplane. Every row is tried as a facet: the other rows,
    projected onto its hyperplane (a Householder reflection taking ``n_F`` to the last axis),
    bound a cone whose measure is 0 when the row is no facet. All facets of all cones are
    measured in one batch (closed forms for ``k <= 4``).
    """
    g, mm, k = b.shape
    nb = _norm(b)
    u = b / np.where(nb > 0, nb, 1.0)[..., None]
    # a row repeating an earlier one (to 8 eps) is no second facet: zero it (0 >= 0 always holds);
    # otherwise both would keep the whole facet, the other row projecting to 0 on it. (Rows that
    # are only close split the facet between them, consistently: see the projection below.)
    same = (np.abs(u[:, :, None, :] - u[:, None, :, :]) <= 8 * _EPS).all(axis=3)
    u = np.where((np.triu(same, 1).any(axis=1) | (nb == 0))[..., None], 0.0, u)
    coef = u[..., -1]  # (G, M): e_k . n_F
    gi, li = np.nonzero(coef != 0.0)
    n_l = u[gi, li]  # (P, k)
    others = u[gi[:, None], _rest_index(mm + 1)[li]]  # (P, M-1, k)
    c = np.einsum("pmk,pk->pm", others, n_l)
    # subtract the (anti)parallel part first, so rows almost parallel to n_l keep their direction
    x = others - np.where(c < 0, -1.0, 1.0)[..., None] * n_l[:, None, :]
    v = n_l.copy()
    v[:, -1] += np.where(n_l[:, -1] < 0, -1.0, 1.0)  # reflection v: n_l -> -+e_k, no cancellation
    hx = x - (2.0 * np.einsum("pmk,pk->pm", x, v) / np.einsum("pk,pk->p", v, v)[:, None])[..., None] * v[:, None, :]
    # facet rows within _MERGE_ANGLE of an earlier one are replaced by a copy of it, as in
    # _merge_close (the closed forms can lose digits on such pairs next to an almost
    # antiparallel one); each merge moves the facet's measure by at most angle / (2 pi)
    fr = hx[..., :-1]
    fn = _norm(fr)
    fr = fr / np.where(fn > 0, fn, 1.0)[..., None]
    ang = 2.0 * np.arctan2(_norm(fr[:, :, None] - fr[:, None]), _norm(fr[:, :, None] + fr[:, None]))
    alive = fn > 0
    moved = np.zeros(gi.size)
    for j in range(1, mm - 1):
        close = alive[:, :j] & (ang[:, j, :j] < _MERGE_ANGLE) & alive[:, j, None]
        hit = np.flatnonzero(close.any(axis=1))
        if hit.size:
            keeper = np.argmin(np.where(close[hit], ang[hit, j, :j], np.inf), axis=1)
            moved[hit] += ang[hit, j, keeper] / (2 * np.pi)
            fr[hit, j] = fr[hit, keeper]
    flops = g * mm * (3 * k + _T + 2 * mm * k) + gi.size * (mm - 1) * (8 * k + mm * (6 * k + 2 * _T))
    cones = [Cone(f) for f in fr]
    if k - 1 <= 3:
        meas = gaussian_measures(cones, rtol=rtol)
        vals = np.array([m_.value for m_ in meas])
        bnds = np.array([m_.error_bound for m_ in meas])
        flops += sum(m_.flops for m_ in meas) // FLOPSCOPE_SCALE
    else:
        vals, bnds = np.zeros(len(cones)), np.zeros(len(cones))
        for t, cone in enumerate(cones):
            m_ = _measure_rows(cone.normals, rtol, budget - flops)
            vals[t], bnds[t], flops = m_.value, m_.error_bound, flops + m_.flops
    h, err = np.zeros(g), np.zeros(g)
    np.add.at(h, gi, coef[gi, li] * vals)
    np.add.at(err, gi, np.abs(coef[gi, li]) * (bnds + moved + 64 * _EPS))
    return h, err, flops


def _raw_pair(a_i: np.ndarray, a_j: np.ndarray, raw: tuple[np.ndarray, np.ndarray] | None) -> tuple | None:
    """``(pi - angle, f)`` for the input rows ``p, q`` that the unit rows ``a_i, a_j`` were
    normalised from (``f`` the unit part of ``q`` orthogonal to ``p``), in exact rational
    arithmetic, so both keep full relative accuracy however thin the slab; None if unknown."""
    if raw is None:
        return None
    unit, rows = raw
    rows = rows[np.abs(rows).max(axis=1) > 0]  # the rows _unit_rows kept, in its order
    found = [np.flatnonzero((unit == v).all(axis=1)) for v in (a_i, a_j)]
    if found[0].size != 1 or found[1].size != 1:  # unknown, or several input rows normalise to it
        return None
    p, q = (np.ldexp(rows[k[0]], -math.frexp(float(np.abs(rows[k[0]]).max()))[1]) for k in found)  # exact
    P, Q = [Fraction(float(x)) for x in p], [Fraction(float(x)) for x in q]
    pp = sum(x * x for x in P)
    qp = sum(x * y for x, y in zip(P, Q, strict=True))
    t = qp / pp
    wf = np.array([float(y - t * x) for x, y in zip(P, Q, strict=True)])  # q's part orthogonal to p
    wn = float(np.linalg.norm(wf))
    if wn == 0.0:
        return 0.0, None
    return math.atan2(wn * math.sqrt(float(pp)), -float(qp)), wf / wn


def _measure_slab(
    a: np.ndarray, r: int, i: int, j: int, delta: float, rtol: float, budget: float, spent: int,
    raw: tuple[np.ndarray, np.ndarray] | None = None,
) -> Measure:
    """Step 0b: the cone lies in the thin wedge between the almost antiparallel planes of
    ``a_i`` and ``a_j`` (``delta = pi - angle(a_i, a_j)``).

    Rotate ``a_j`` back: ``a_j(psi) = -cos(psi) a_i + sin(psi) f`` (``f`` the unit part of ``a_j``
    orthogonal to ``a_i``), ``a_j(0) = -a_i`` (measure 0) and ``a_j(delta) = a_j``. The cone grows
    with ``psi`` through its moving facet, the half-hyperplane ``E + R_+ w(psi)``, ``E = {a_i, f}^perp``,
    ``w = sin(psi) a_i + cos(psi) f``, at rate ``dist(x, E) = g`` (the ``w`` coordinate), so
    ``gamma = (1 / 2 pi) int_0^delta h(psi) d psi``, ``h = sqrt(2 pi) E[g 1_K]`` over the
    ``(r-1)``-dimensional cone ``K = {(y, g) : g >= 0, a_k^E . y + c_k(psi) g >= 0}``,
    ``c_k = a_k . w(psi)`` (:func:`_facet_sums`: measures of ``(r-2)``-dimensional cones, closed
    forms for ``r <= 5``). ``K`` only grows with each ``c_k`` (``g >= 0`` on it), so on each part
    of ``[0, delta]`` ``h`` lies between its values at the smallest and at the largest ``c``
    there: a rigorous bracket of the integral, whose midpoint is returned; the parts are
    refined until its width meets ``rtol``. Everything is relative to ``delta``, so slabs far
    too thin for the ray enumeration's zero tests keep their relative accuracy, except for
    normalising the rows, which may turn the pair by ``_NORMALISE_ANGLE``: that angle times the
    largest ``h / 2 pi`` is added to the bound.
    """
    ai = a[i]
    exact_pair = _raw_pair(ai, a[j], raw)
    spent += 8 * r + _T
    if exact_pair is not None:
        delta, f = exact_pair
        slack = 4 * _EPS * delta  # how far delta may be from the input's angle
        spent += 6 * r + 4 * _T
    else:
        s = a[j] + ai  # small: formed exactly enough, so f keeps its direction
        fv = s - (s @ ai) * ai
        fn = float(np.linalg.norm(fv))
        f = fv / fn if fn > 0 else None
        slack = _NORMALISE_ANGLE + 4 * _EPS * delta
    if delta == 0.0 or f is None:  # exactly antiparallel rows: a hyperplane piece
        return _exact(0.0, spent)
    basis = np.linalg.qr(np.column_stack([ai, f]), mode="complete")[0][:, 2:]
    rest = np.delete(a, [i, j], axis=0)
    y = rest @ basis
    alpha, beta = rest @ f, rest @ ai
    amp = np.hypot(alpha, beta)
    spent += 4 * r * r + 2 * r**3 + rest.shape[0] * (r * (r - 2) + 4 * r + _T)
    top = np.r_[np.zeros(r - 2), 1.0]

    def c_range(p0: np.ndarray, p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of c_k(psi) = alpha cos(psi) + beta sin(psi) over [p0, p1] (p: (P, 1)): its
        values at the ends, or its extremum where the derivative changes sign inside."""
        c0, c1 = alpha * np.cos(p0) + beta * np.sin(p0), alpha * np.cos(p1) + beta * np.sin(p1)
        d0, d1 = beta * np.cos(p0) - alpha * np.sin(p0), beta * np.cos(p1) - alpha * np.sin(p1)
        pad = 8 * _EPS * amp
        lo = np.where((d0 < 0) & (d1 > 0), -amp, np.minimum(c0, c1)) - pad
        hi = np.where((d0 > 0) & (d1 < 0), amp, np.maximum(c0, c1)) + pad
        return lo, hi

    def k_rows(c: np.ndarray) -> np.ndarray:
        """The rows of K (P, m - 1, r - 1) for coefficients c (P, m - 2)."""
        b = np.concatenate([np.broadcast_to(y, (c.shape[0], *y.shape)), c[..., None]], axis=2)
        return np.concatenate([b, np.broadcast_to(top, (c.shape[0], 1, r - 1))], axis=1)

    def integrate(parts: int) -> tuple[float, float, float, int]:
        """(value, width of the bracket, the fixed part of the bound, flops) with ``parts`` parts."""
        edges = np.linspace(0.0, delta, parts + 1)
        p0, p1 = edges[:-1, None], edges[1:, None].copy()
        p1[-1] += slack  # the last part reaches past delta by its uncertainty
        b = k_rows(np.concatenate(c_range(p0, p1)))  # K at the smallest, then the largest c
        h, e, used = _facet_sums(b, rtol / 4, budget - spent)
        # h only grows with c: where the evaluations say otherwise, their errors are at least that
        e = e + np.tile(np.maximum(h[:parts] - h[parts:], 0.0), 2)
        h_lo = np.maximum(h[:parts] - e[:parts], 0.0)
        h_hi = np.maximum(h[parts:] + e[parts:], 0.0)
        width = np.diff(edges)
        value = float(width @ (h_lo + h_hi)) / (4 * np.pi)
        # the bound: the bracket (shrinks like 1 / parts) and what more parts cannot shrink
        # (rounding in h, the slack of delta)
        rounding = float(width @ (e[:parts] + e[parts:])) / (4 * np.pi)
        total = float(width @ (h_hi - h_lo)) / (4 * np.pi)
        fixed = slack * float(h_hi[-1]) / (2 * np.pi) + 16 * r * _EPS * value
        return value, total + fixed, min(rounding, total) + fixed, used + parts * rest.shape[0] * (4 * _T + 16)

    value, bound, fixed, used = integrate(1)
    spent += used
    _check_budget(spent, budget)
    if value <= bound:  # h at rounding level: K may have empty interior for every psi
        c_max = c_range(np.zeros((1, 1)), np.full((1, 1), delta + slack))[1]
        largest = _measure_rows(k_rows(c_max)[0], rtol, budget - spent)
        spent += largest.flops
        if largest.exact and largest.value == 0.0:  # K(psi) lies in it for every psi: h = 0
            return _exact(0.0, spent)
    target = rtol * value
    cap = _SLAB_PARTS[0] if r <= 5 else _SLAB_PARTS[1]
    if bound > target:  # more parts, as many as the bracket needs (what they cannot shrink aside)
        parts = math.ceil(1.25 * (bound - fixed) / max(target - fixed, fixed, 1e-300))
        parts = parts if parts <= cap else 8  # out of reach (a nearly empty K): a cheap improvement
        if parts > 1 and spent + parts * used <= budget:
            v2, b2, _, used2 = integrate(parts)
            spent += used2
            if b2 < bound:
                value, bound = v2, b2
    return Measure(value=float(min(value, 1.0)), error_bound=float(bound), exact=bool(bound == 0.0), flops=int(spent))


def _measure_numeric(
    a: np.ndarray, r: int, rtol: float, budget: float, spent: int, raw: tuple[np.ndarray, np.ndarray] | None = None
) -> Measure:
    """Pointed cone {a x >= 0} in R^r, r >= 4, a (m, r) distinct unit rows of rank r; ``raw``
    (unit rows, the input rows, zero rows included, they were normalised from) when ``a`` holds
    unprojected rows."""
    i, j, delta, f = _slab_pair(a)
    spent += f
    if delta < _SLAB_ANGLE:
        return _measure_slab(a, r, i, j, delta, rtol, budget, spent, raw)
    rows = rays = None
    snapped = 0.0
    if a.shape[0] == r:
        rows = a[None]
    else:
        ext, tight, f = _extreme_rays(a, budget - spent)
        spent += f
        k = ext.shape[0]
        if k < r:
            return _exact(0.0, spent)
        cen = ext.sum(axis=0)
        cen /= np.linalg.norm(cen)
        spent += k * r + 3 * r + _T + a.shape[0] * (2 * r + 1)
        if (a @ cen).min() <= _INTERIOR_TOL:
            return _exact(0.0, spent)
        # planes the enumeration counted as through a ray although they miss it by more than
        # rounding (nearly degenerate input): the cone used differs from the true one near those
        # rays; charge 10 x (the largest such miss) / (2 pi) per plane, a wedge of that angle
        miss = np.abs(ext @ a.T)
        miss = np.where((miss <= _RAY_TOL) & (miss > 1e-13), miss, 0.0).max(axis=0)
        snapped = 10 * float(miss.sum()) / (2 * np.pi)
        spent += 3 * k * a.shape[0] * r
        facets, f = _facets(tight, r)
        spent += f
        if len(facets) == r:
            rows = a[facets][None]
        else:
            simplices, f = _triangulate(ext, tight, facets, r)
            spent += f
            rays = ext[np.array(simplices, dtype=np.intp)]
            rows, f, ok = _simplex_normals(rays, with_mask=True)
            rays = rays[ok]
            spent += f
    sens = None  # relative error of the measure from rounding in rays computed from normals
    if rays is None:  # simplicial: the rays are the dual basis of the normals
        rays, f, ok, sens = _simplex_normals(rows, with_mask=True, with_sens=True)
        rows = rows[ok]
        spent += f + rows.shape[0] * r * (r + 3)
    if rows.shape[0] == 0:
        return _exact(0.0, spent)
    _check_budget(spent, budget)
    # thin pieces: the ray-chart bracket, when it is cheaper than the orthant quadrature
    npieces = rays.shape[0]
    h, qmax, det = _ray_chart_terms(rays)
    order = _taylor_order(r, qmax, rtol / 4)
    plackett = sum(_orthant_flops(r, r, _de_rule(k)[0].size) for k in _START_LEVELS)
    chart_cost = np.where(order > 0, (order + 1.0) ** (r - 1) * (r * r + 12), np.inf)
    cheap = chart_cost < plackett
    spent += npieces * r * (3 * r * r + 8)
    val, bnd = np.zeros(npieces), np.zeros(npieces)

    def chart(sel: np.ndarray) -> None:
        nonlocal spent
        for k in np.unique(order[sel]):
            part = sel[order[sel] == k]
            v, b, f = _ray_chart(rays[part], h[part], qmax[part], det[part], int(k))
            if sens is not None:  # the chart measures the computed rays' cone
                b = b + 2.0 * sens[part] * np.abs(v)
            val[part], bnd[part], spent = v, b, spent + f
            _check_budget(spent, budget)

    chart(np.nonzero(cheap)[0])
    rest = np.nonzero(~cheap)[0]
    if rest.size:
        flat, f = _flatness(rays[rest])
        val[rest], bnd[rest], spent = _orthant_levels(rows[rest], rtol, budget, spent + f, flat)
        # quadrature pieces held above their share by the rounding floor (thin, tiny pieces):
        # redo them by the ray chart when that is affordable (at most 100 quadratures' cost)
        share = rtol * max(float(val.sum()), 0.0) * np.abs(val[rest]) / max(float(np.abs(val).sum()), 1e-300)
        redo = rest[(bnd[rest] > share) & (chart_cost[rest] < 100 * plackett + 1e5)]
        redo = redo[np.cumsum(chart_cost[redo]) <= budget - spent]
        if redo.size:
            old_val, old_bnd = val[redo].copy(), bnd[redo].copy()
            chart(redo)
            worse = bnd[redo] > old_bnd
            val[redo[worse]], bnd[redo[worse]] = old_val[worse], old_bnd[worse]
    value, bound = float(np.clip(val.sum(), 0.0, 1.0)), float(bnd.sum()) + snapped
    return Measure(value=value, error_bound=bound, exact=False, flops=int(spent))


def gaussian_measure(cone: Cone, *, rtol: float = 1e-6, max_flops: float | None = None) -> Measure:
    """See :func:`_gaussian_measure`; FLOPs reported in symest's cost model."""
    cap = None if max_flops is None else max_flops / FLOPSCOPE_SCALE
    return _scaled(_gaussian_measure(cone, rtol=rtol, max_flops=cap))


def _gaussian_measure(cone: Cone, *, rtol: float = 1e-6, max_flops: float | None = None) -> Measure:
    """Standard-Gaussian measure ``P(X in cone)``, ``X ~ N(0, I_n)``, with an error bound.

    Exact closed forms when the cone, after removing its lineality space, has dimension
    ``r <= 3``; otherwise triangulation into simplicial cones and orthant probabilities by
    Plackett's reduction with tanh-sinh quadrature, refined until
    ``error_bound <= rtol * value`` (see the module docstring for why the bound is sound and
    when the rounding floor prevents reaching ``rtol``). ``max_flops`` caps the cost: if the
    requested accuracy does not fit, the best value is returned with its larger bound; if not
    even a first estimate fits, :class:`symest._errors.BudgetError` is raised.
    """
    if not rtol > 0:
        raise ValueError(f"rtol must be positive, got {rtol}")
    budget = math.inf if max_flops is None else float(max_flops)
    if not budget > 0:
        raise BudgetError(f"max_flops must be positive, got {max_flops}")
    return _measure_rows(cone.normals, rtol, budget)


def _measure_rows(rows: np.ndarray, rtol: float, budget: float) -> Measure:
    """:func:`_gaussian_measure` of ``{x : rows x >= 0}`` (FLOPs unscaled)."""
    a, r, spent, moved = _prepare_rows(rows)
    raw = None
    if moved > 0 and rows.shape[1] >= 4:
        # the rank tolerance dropped more than rounding: if that was an almost antiparallel pair
        # (a slab thinner than 1e-12), the slab route measures the cone itself, unprojected
        u = _unit_rows(rows)
        i, j, delta, f = _slab_pair(u)
        spent += f
        if delta < _SLAB_ANGLE:
            return _measure_slab(u, rows.shape[1], i, j, delta, rtol, budget, spent, (u, rows))
    if r >= 4:
        m = a.shape[0]
        if r == rows.shape[1]:  # not projected: the unit rows are _unit_rows(rows), for _raw_pair
            raw = (a, rows)
        a, merged = _merge_close(_dedupe(a))
        spent += m * m * (4 * r + 3 * _T + 4)
        if merged > 0:  # merging may lower the rank
            a, r, f, again = _reduce(a)
            spent += f
            moved += merged + again
    return _loosen(_measure_reduced(a, r, rtol, budget, spent, raw), moved)


def _measure_reduced(
    a: np.ndarray, r: int, rtol: float, budget: float, spent: int, raw: tuple[np.ndarray, np.ndarray] | None = None
) -> Measure:
    """Dispatch on the reduced dimension r (a: unit rows of rank r in R^r)."""
    m = a.shape[0]
    if r == 0:
        _check_budget(spent, budget)
        return _exact(1.0, spent)
    if r == 1:
        spent += m
        _check_budget(spent, budget)
        return _exact(_measure1(a), spent)
    if r == 2:
        spent += _measure2_flops(m)
        _check_budget(spent, budget)
        return _exact(float(_measure2_batch(a[None])[0]), spent)
    if r == 3:
        spent += _measure3_flops(m)
        _check_budget(spent, budget)
        return _exact(float(_measure3(a[None])[0]), spent)
    _check_budget(spent, budget)
    return _measure_numeric(a, r, rtol, budget, spent, raw)


def gaussian_measures(cones: Sequence[Cone], **kw: float | None) -> list[Measure]:
    """:func:`gaussian_measure` of each cone (same keywords; ``max_flops`` applies per cone).

    Cones of reduced dimension ``r <= 3`` are grouped by ``(r, m)`` and computed vectorised;
    the others one by one.
    """
    rtol = kw.pop("rtol", 1e-6)
    max_flops = kw.pop("max_flops", None)
    if kw:
        raise TypeError(f"unexpected keyword arguments {sorted(kw)}")
    budget = math.inf if max_flops is None else float(max_flops)
    out: list[Measure | None] = [None] * len(cones)
    groups: dict[tuple[int, int], list[tuple[int, np.ndarray, int, float]]] = {}
    # vectorised preparation of cones sharing a shape
    by_shape: dict[tuple[int, int], list[int]] = {}
    for idx, cone in enumerate(cones):
        by_shape.setdefault(cone.normals.shape, []).append(idx)
    for (m0, n), idxs in by_shape.items():
        stack = np.stack([cones[i].normals for i in idxs])
        scale = np.abs(stack).max(axis=2) if m0 else np.zeros((len(idxs), 0))
        if m0 == 0 or (scale == 0).any() or n > 3:
            for i in idxs:
                if n > 3:
                    out[i] = _gaussian_measure(cones[i], rtol=rtol, max_flops=max_flops)
                    continue
                a, r, spent, moved = _prepare(cones[i])
                groups.setdefault((r, a.shape[0]), []).append((i, a, spent, moved))
            continue
        b = stack / scale[..., None]
        b = b / np.sqrt(np.einsum("bij,bij->bi", b, b))[..., None]
        s = np.linalg.svd(b, compute_uv=False)
        ranks = (s > _RANK_RTOL * s[:, :1]).sum(axis=1)
        base = _clean_flops(m0, n) + _svd_flops(m0, n) + s.shape[1]
        for j, i in enumerate(idxs):
            if ranks[j] == n:
                groups.setdefault((n, m0), []).append((i, b[j], base, 0.0))
            else:
                a, r, spent, moved = _prepare(cones[i])
                groups.setdefault((r, a.shape[0]), []).append((i, a, spent, moved))
    for (r, m), items in groups.items():
        if r == 0:
            vals, extra = np.ones(len(items)), 0
        elif r == 1:
            vals, extra = np.array([_measure1(a) for _, a, _, _ in items]), m
        elif r == 2:
            vals, extra = _measure2_batch(np.stack([a for _, a, _, _ in items])), _measure2_flops(m)
        elif r == 3:
            vals, extra = _measure3(np.stack([a for _, a, _, _ in items])), _measure3_flops(m)
        else:  # pragma: no cover - r <= n <= 3 here
            raise AssertionError(r)
        for (i, _, spent, moved), v in zip(items, vals, strict=True):
            _check_budget(spent + extra, budget)
            out[i] = _loosen(_exact(float(v), spent + extra), moved)
    return [_scaled(o) for o in out if o is not None]


# ----------------------------------------------------------------------------------------------
# Emptiness and redundancy (linear programs)
# ----------------------------------------------------------------------------------------------

_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def _lp(c: np.ndarray, a_ub: np.ndarray, b_ub: np.ndarray, bounds: list[tuple[float, float]]) -> float:
    from scipy.optimize import linprog

    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options=_LP_OPTIONS)
    if res.status != 0:  # pragma: no cover - bounded, feasible by construction
        raise RuntimeError(f"LP failed: {res.message}")
    return float(res.fun)


def is_empty(cone: Cone, tol: float = 1e-9) -> bool:
    """Whether the cone has empty interior (so Gaussian measure 0).

    With unit normals, the LP ``t* = max { t : a_i . x >= t for all i, -1 <= x_j <= 1 }``
    measures the largest inscribed ball (``t*`` lies between its radius about the box's unit
    vector and ``sqrt(n)`` times it); the cone is reported empty when ``t* <= tol``. Linearly
    independent normals (and ``m <= 1``) never give an empty cone and skip the LP.
    """
    a = _unit_rows(cone.normals)
    m, n = a.shape
    if m <= 1:
        return False
    if np.linalg.matrix_rank(a) == m:
        return False
    # variables (x, t): minimise -t subject to t - a_i . x <= 0
    a_ub = np.hstack([-a, np.ones((m, 1))])
    t = -_lp(np.r_[np.zeros(n), -1.0], a_ub, np.zeros(m), [(-1.0, 1.0)] * n + [(None, 1.0)])
    return t <= tol


def remove_redundant(cone: Cone) -> Cone:
    """The same cone without zero rows, duplicate rows and constraints implied by the others.

    Rows are normalised (unit length) and duplicates (equal to within 8 eps) dropped; then each
    remaining constraint ``i`` in turn is dropped if ``min { a_i . x : a_j . x >= 0 for the kept
    j != i, -1 <= x <= 1 } >= -1e-9`` (an LP), i.e. if the others imply it. Sequential removal
    keeps the set equal to the original cone. Linearly independent rows are all kept without
    LPs. For a cone with empty interior this keeps enough rows to define the same set.
    """
    a = _dedupe(_unit_rows(cone.normals))
    m, n = a.shape
    if m <= 1 or np.linalg.matrix_rank(a) == m:
        return Cone(a.reshape(m, n))
    keep = np.ones(m, dtype=bool)
    for i in range(m):
        others = keep.copy()
        others[i] = False
        if not others.any():
            continue
        val = _lp(a[i], -a[others], np.zeros(int(others.sum())), [(-1.0, 1.0)] * n)
        if val >= -1e-9:
            keep[i] = False
    return Cone(a[keep])
