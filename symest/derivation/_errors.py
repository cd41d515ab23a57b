"""The error a derivation raises."""

from __future__ import annotations

from symest._errors import SymestError


class DerivationError(SymestError):
    """A derivation cannot run: malformed step, wrong model for a proof, unserializable claim."""
