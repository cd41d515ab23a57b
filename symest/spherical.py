"""Cones in R^2 and R^3 kept as their extreme rays, split exactly and cheaply.

A convex cone C in R^n (n = 2, 3) is stored by the unit vectors where its boundary meets the
unit sphere: an *arc* (a chain of rays r_0 .. r_k on the circle, consecutive rays less than
pi apart) in 2-D, a convex *spherical polygon* (a cycle of vertices, consecutive vertices less
than pi apart) in 3-D. A half-space {c . x >= 0} splits it Sutherland-Hodgman style: with
s_i = c . r_i, a segment whose ends have strictly opposite signs crosses the boundary at

    p = normalize((s_i r_{i+1} - s_{i+1} r_i) / (s_i - s_{i+1})),

a positive combination of its ends, so p lies on the minor arc between them. A side with no
ray strictly inside it has empty interior. Measures are exact closed forms:

* 2-D: mu = atan2(|r_0 x r_k|, r_0 . r_k) / (2 pi) from the end rays (every 2-D cone held
  here lies in a closed half-plane, so its angle is in [0, pi]);
* 3-D: the solid angle of the fan of triangles (v_0, v_i, v_{i+1}), each by Van Oosterom and
  Strackee's formula Omega = 2 atan2(|a . (b x c)|, 1 + a.b + b.c + c.a); mu = Omega / (4 pi).
  Unlike Girard's sum of angles minus (k - 2) pi it keeps relative accuracy on thin regions.

In 3-D only *pointed* cones (containing no line) are represented: they lie in an open
hemisphere, so every edge, including each new edge a split creates, is a minor arc (in 2-D a
half-plane is fine too, as a chain of two quarter arcs). Callers make cones pointed
first (rank-task cases contain only the line through (1, ..., 1): split them on the sign of
sum(x)).

Second moments come from Gaussian integration by parts (E[x_i g] = E[d_i g]) applied twice:

    E[x x^T 1_C] = mu(C) I + sum over facets F_k (inward unit normal a_k) of a_k m_k^T,

m_k = phi(0) E[y 1_{F_k}] the facet's own first moment. In 2-D a facet is a ray v_k:
m_k = v_k / (2 pi). In 3-D a facet is a sector with edge rays r, r' and, at each, the unit
b_{k,r} in the facet pointing inwards from r: m_k = (b_{k,r} + b_{k,r'}) / (4 pi). (Check: the
octant gives E[x_1 x_2 1_C] = 1/(4 pi).)

Errors are float rounding: about 1e-15 per vertex in the angle sum (an absolute bound of
1e-13 per cone is reported). FLOPs are billed on a :class:`~symest.flops.Tally` at
flopscope's rates for float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symest.flops import Tally

EPS = 1e-14
ROUNDING = 1e-13
MERGE = 1e-13  # vertices closer than this are one vertex


def _merge_coincident(rays: list[np.ndarray], edges: list[object]) -> tuple[list[np.ndarray], list[object]]:
    """Drop zero-length edges of a cycle: a vertex equal to its successor is removed, and the
    surviving vertex is followed by the later edge (it lies on both neighbouring planes)."""
    out_r, out_e = list(rays), list(edges)
    i = 0
    while len(out_r) > 1 and i < len(out_r):
        j = (i + 1) % len(out_r)
        if np.linalg.norm(out_r[i] - out_r[j]) <= MERGE:
            out_e[i] = out_e[j]
            del out_r[j], out_e[j]
            if j < i:
                i -= 1
        else:
            i += 1
    return out_r, out_e


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass(frozen=True, eq=False)
class RayCone:
    """A cone in R^2 (open chain of rays) or R^3 (closed cycle of vertices on the sphere)."""

    rays: np.ndarray  # (k, n), unit rows
    # Provenance: which constraint plane each boundary piece lies on (labels are the caller's).
    # 2-D: (label of r_0's line, label of r_k's line); 3-D: label of edge (v_i, v_{i+1}) per i.
    planes: tuple = ()

    @property
    def dim(self) -> int:
        return int(self.rays.shape[1])

    @staticmethod
    def half_plane(c: np.ndarray, label: object = None) -> RayCone:
        """{x in R^2 : c . x >= 0} as the chain (p, c, -p), p the boundary ray: two quarter arcs."""
        c = _unit(np.asarray(c, dtype=np.float64))
        p = np.array([-c[1], c[0]])
        return RayCone(np.array([p, c, -p]), (label, label))

    def split(self, c: np.ndarray, tally: Tally, label: object = None) -> tuple[RayCone | None, RayCone | None]:
        """(C ∩ {c . x >= 0}, C ∩ {c . x <= 0}); a side with empty interior is None.
        ``label`` names the plane c . x = 0 in the children's provenance."""
        r = self.rays
        k, n = r.shape
        s = r @ c
        tally.einsum("ij,j->i", (k, n), (n,))
        tally.pointwise("greater", 2 * k)
        scale = EPS * float(np.linalg.norm(c))
        pos, neg = s > scale, s < -scale
        if not neg.any():
            return (self, None) if pos.any() else (None, None)
        if not pos.any():
            return None, self
        closed = n == 3
        idx = range(k) if closed else range(k - 1)
        crossings = 0
        old = self.planes or (None,) * (k if closed else 2)
        sides: dict[bool, tuple[list[np.ndarray], list[object]]] = {True: ([], []), False: ([], [])}
        for i in idx:
            j = (i + 1) % k
            edge = old[i] if closed else None
            crosses = bool((pos[i] and neg[j]) or (neg[i] and pos[j]))
            for side, drop in ((True, neg), (False, pos)):
                if not drop[i]:  # a kept vertex: edge i follows, unless it sits on the cut
                    sides[side][0].append(r[i])     # and the next vertex is dropped
                    sides[side][1].append(edge if crosses or not drop[j] else label)
            if crosses:
                p = _unit((s[i] * r[j] - s[j] * r[i]) / (s[i] - s[j]))
                crossings += 1
                for side, drop in ((True, neg), (False, pos)):
                    # leaving the kept side the cut follows; entering it, the rest of edge i
                    sides[side][0].append(p)
                    sides[side][1].append(label if not drop[i] else edge)
        if not closed:
            for side, drop in ((True, neg), (False, pos)):
                if not drop[-1]:
                    sides[side][0].append(r[-1])
        tally.pointwise("multiply", 4 * n * crossings)
        tally.pointwise("sqrt", crossings)
        out = []
        for side, drop in ((True, neg), (False, pos)):
            rays, edges = sides[side]
            if closed:
                rays, edges = _merge_coincident(rays, edges)
                if len(rays) < 3:  # collapsed to an arc or a point: empty interior
                    out.append(None)
                    continue
                planes = tuple(edges)
            else:
                planes = (old[0] if not drop[0] else label, old[1] if not drop[-1] else label)
                if np.linalg.norm(rays[0] - rays[-1]) <= MERGE:
                    out.append(None)
                    continue
            out.append(RayCone(np.array(rays), planes))
        return out[0], out[1]

    def measure(self, tally: Tally) -> float:
        """Standard-Gaussian measure (solid-angle fraction), exact up to rounding."""
        r = self.rays
        k, n = r.shape
        if n == 2:
            a, b = r[0], r[-1]
            tally.pointwise("multiply", 6)
            tally.pointwise("arctan2", 1)
            return float(np.arctan2(abs(a[0] * b[1] - a[1] * b[0]), a @ b) / (2 * math.pi))
        # Van Oosterom-Strackee on the fan from v_0: each triangle (a, b, c) of unit vectors has
        # solid angle 2 atan2(|a . (b x c)|, 1 + a.b + b.c + c.a) — no cancellation on slivers.
        a, b, c = r[0], r[1:-1], r[2:]
        det = np.abs(np.cross(b, c) @ a)
        den = 1 + b @ a + np.einsum("ij,ij->i", b, c) + c @ a
        t = k - 2
        tally.pointwise("multiply", 9 * t + 5 * t + 10 * t + 4 * t)
        tally.pointwise("arctan2", t)
        return float(2 * np.arctan2(det, den).sum() / (4 * math.pi))


def second_moment(cone: RayCone, tally: Tally) -> np.ndarray:
    """E[x x^T ; x in C] for standard Gaussian x (exact closed form, see module docstring)."""
    r = cone.rays
    k, n = r.shape
    mu = cone.measure(tally)
    out = mu * np.eye(n)
    inside = r.mean(axis=0)  # a point of the cone's interior direction
    if n == 2:
        for v in (r[0], r[-1]):
            a = np.array([-v[1], v[0]])
            a = a if a @ inside >= 0 else -a
            out += np.outer(a, v) / (2 * math.pi)
        tally.pointwise("multiply", 16)
    else:
        for i in range(k):
            u, w = r[i], r[(i + 1) % k]
            a = _unit(np.cross(u, w))
            a = a if a @ inside >= 0 else -a
            bu = _unit(w - (w @ u) * u)
            bw = _unit(u - (u @ w) * w)
            out += np.outer(a, bu + bw) / (4 * math.pi)
        tally.pointwise("multiply", 40 * k)
    return (out + out.T) / 2


def from_normals(normals: np.ndarray, tally: Tally, labels: tuple | None = None) -> RayCone | None:
    """The pointed cone {x : normals @ x >= 0} in R^2 or R^3, or None if its interior is empty.

    Candidate rays are the lines where two constraint planes meet (in 2-D, each constraint's
    boundary line), both directions; the feasible ones are the cone's extreme rays, ordered by
    angle around their mean. Raises ValueError if the cone is not pointed.
    """
    a = np.asarray(normals, dtype=np.float64)
    m, n = a.shape
    labels = tuple(labels) if labels is not None else (None,) * m
    if n == 2:
        cand = np.stack([-a[:, 1], a[:, 0]], axis=1)
        pairs = [frozenset([t]) for t in range(m)]
    else:
        i, j = np.triu_indices(m, 1)
        cand = np.cross(a[i], a[j])
        pairs = [frozenset([p, q]) for p, q in zip(i, j, strict=True)]
        tally.pointwise("multiply", 9 * len(i))
    ok = np.linalg.norm(cand, axis=1) > EPS
    cand, pairs = cand[ok], [p for p, keep in zip(pairs, ok, strict=True) if keep]
    cand = np.concatenate([cand, -cand])
    cand = cand / np.linalg.norm(cand, axis=1)[:, None]
    pairs = pairs + pairs
    slack = cand @ a.T
    tally.einsum("ij,kj->ik", cand.shape, a.shape)
    feasible = np.all(slack >= -EPS * np.linalg.norm(a, axis=1), axis=1)
    rays, on = [], []  # extreme rays and the planes through each (deduplicated)
    for t in np.flatnonzero(feasible):
        hit = next((q for q, v in enumerate(rays) if np.linalg.norm(v - cand[t]) <= 1e-12), None)
        if hit is None:
            rays.append(cand[t])
            on.append(set(pairs[t]))
        else:
            on[hit] |= pairs[t]
    if len(rays) < n:
        return None
    rays_a = np.array(rays)
    g = rays_a.sum(axis=0)
    if np.linalg.norm(g) < 1e-9:
        raise ValueError("cone is not pointed; split it first")
    g = _unit(g)
    if n == 2:
        order = np.argsort([np.cross(g, r) for r in rays_a])
        ends = order[[0, -1]]
        return RayCone(rays_a[ends], tuple(labels[min(on[e])] for e in ends))
    u = _unit(np.cross(g, rays_a[0]))
    w = np.cross(g, u)
    order = np.argsort(np.arctan2(rays_a @ w, rays_a @ u))
    tally.pointwise("arctan2", len(rays_a))
    k = len(order)
    edges = tuple(labels[min(on[order[t]] & on[order[(t + 1) % k]])] for t in range(k))
    return RayCone(rays_a[order], edges)
