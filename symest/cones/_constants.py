"""Numerical tolerances and quadrature constants shared by the cone-measure routes."""

from __future__ import annotations

import numpy as np

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
