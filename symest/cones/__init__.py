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

from symest.cones._cone import Cone as Cone
from symest.cones._cone import Measure as Measure
from symest.cones._costs import FLOPSCOPE_SCALE as FLOPSCOPE_SCALE
from symest.cones._costs import TRANSCENDENTAL_FLOPS as TRANSCENDENTAL_FLOPS
from symest.cones._lp import is_empty as is_empty
from symest.cones._lp import remove_redundant as remove_redundant
from symest.cones._measure import gaussian_measure as gaussian_measure
from symest.cones._measure import gaussian_measures as gaussian_measures

__all__ = [
    "Cone",
    "Measure",
    "gaussian_measure",
    "gaussian_measures",
    "is_empty",
    "remove_redundant",
]
