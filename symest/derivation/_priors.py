"""Priors: the bits of a check."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symest.derivation._agree import Agree
from symest.derivation._errors import DerivationError


@dataclass(frozen=True)
class Prior:
    """A reference prior for checks: ``prob_fn(claim) -> P(claim)``; bits = -log2 P.

    ``bits_fn(claim) -> bits`` may be given instead (for claims whose probability underflows,
    such as a conjunction of hundreds of exact values). Priors must depend on the claim only (not
    on the weights), so bits can be recomputed from a saved ledger. Register custom priors with
    :func:`register_prior` so audits can recompute them.
    """

    name: str
    prob_fn: Callable[[Any], float] | None = None
    params: tuple[tuple[str, float], ...] = ()
    bits_fn: Callable[[Any], float] | None = None

    def bits(self, claim: Any) -> float:
        if self.bits_fn is not None:
            b = float(self.bits_fn(claim))
            if not (b >= 0 and math.isfinite(b)):
                raise DerivationError(f"prior {self.name} gave {b} bits to {str(claim)[:60]}; need finite >= 0")
            return b
        if self.prob_fn is None:
            raise DerivationError(f"prior {self.name} has neither prob_fn nor bits_fn")
        p = float(self.prob_fn(claim))
        if not 0 < p <= 1:
            raise DerivationError(f"prior {self.name} gave probability {p} to {str(claim)[:60]}; need 0 < p <= 1")
        return -math.log2(p)

    def probability(self, claim: Any) -> float:
        return 2.0 ** (-self.bits(claim))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.params)}

    @staticmethod
    def fixed(p: float, name: str = "fixed") -> Prior:
        """A prior that gives every claim probability ``p`` (serialized with ``p``)."""
        if not 0 < p <= 1:
            raise DerivationError(f"a probability must lie in (0, 1], got {p}")
        return Prior(name, lambda _c, p=float(p): p, (("p", float(p)),))


EXACT_BITS = 32
"""Bits of a claim that a weight (or expression) equals a stated value exactly: a float32 weight
is one of 2^32 bit patterns (the same rate as the 32-bits-per-parameter weight-bits bound)."""


def _is_zero(e: sp.Expr) -> bool:
    return e.is_number and e == 0


def claim_form(claim: Any) -> str:
    """``sign``, ``magnitude``, ``ordering``, ``agreement``, ``exact`` or ``conjunction``."""
    if isinstance(claim, Agree):
        return "agreement"
    if isinstance(claim, sp.And):
        return "conjunction"
    if isinstance(claim, sp.Equality):
        return "exact"
    if isinstance(claim, (sp.StrictGreaterThan, sp.StrictLessThan, sp.GreaterThan, sp.LessThan)):
        lhs, rhs = claim.args
        if _is_zero(lhs) or _is_zero(rhs):
            return "sign"
        if (isinstance(lhs, sp.Abs) and rhs.is_number) or (isinstance(rhs, sp.Abs) and lhs.is_number):
            return "magnitude"
        return "ordering"
    raise DerivationError(f"a check needs a relation, Agree(...) or And(...) of them; got {str(claim)[:60]}")


def _auto_bits(claim: Any) -> float:
    form = claim_form(claim)
    if form in ("sign", "magnitude", "ordering"):
        return 1.0
    if form == "agreement":
        k = claim.args[2]
        if not (k.is_number and k >= 0):
            raise DerivationError(f"agreement precision must be a number >= 0, got {k}")
        return float(k)
    if form == "exact":
        return float(EXACT_BITS)
    return float(sum(_auto_bits(a) for a in claim.args))


def _small_bits(claim: Any) -> float:
    """``Abs(w) < c`` (0 < c <= 1): P(|w| < c) = c for w uniform on [-1, 1], so -log2 c bits."""
    if not (isinstance(claim, sp.StrictLessThan) and isinstance(claim.args[0], sp.Abs) and claim.args[1].is_number
            and 0 < claim.args[1] <= 1):
        raise DerivationError(f"the 'small' prior takes claims Abs(w) < c with 0 < c <= 1, got {str(claim)[:60]}")
    return -math.log2(float(claim.args[1]))


AUTO = Prior("auto", bits_fn=_auto_bits)
SMALL = Prior("small", bits_fn=_small_bits)
SIGN = Prior("sign", lambda c: 0.5)
MAGNITUDE = Prior("magnitude", lambda c: 0.5)
ORDERING = Prior("ordering", lambda c: 0.5)
AGREEMENT = Prior("agreement", bits_fn=lambda c: float(c.args[2]))
EXACT = Prior("exact", bits_fn=lambda c: float(EXACT_BITS))
PRIORS: dict[str, Prior] = {p.name: p for p in (AUTO, SIGN, MAGNITUDE, ORDERING, AGREEMENT, EXACT, SMALL)}


def register_prior(prior: Prior) -> Prior:
    """Make a custom prior known by name (audits look priors up by the name a ledger records)."""
    if prior.name == "fixed":
        raise DerivationError("'fixed' is reserved for Prior.fixed(p)")
    PRIORS[prior.name] = prior
    return prior


def prior_from_spec(spec: Mapping[str, Any]) -> Prior | None:
    """The prior a ledger names, or None if it is not registered here."""
    name = spec.get("name")
    if name == "fixed":
        return Prior.fixed(float(spec["p"]))
    return PRIORS.get(str(name))
