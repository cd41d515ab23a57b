"""User-facing errors.

Every failure caused by bad input (a file, a name, a number on the command line) raises a
subclass of :class:`SymestError` whose message is one line saying what is wrong and what to do.
The command line prints ``symest: error: <message>`` and exits with status 2; it never shows a
traceback for these.
"""

from __future__ import annotations


class SymestError(Exception):
    """Base class for errors caused by bad input; the message is a single line."""


class CheckpointError(SymestError):
    """A weights file is missing, truncated, hostile or does not describe a valid model."""


class ModelError(SymestError):
    """Weights have wrong shapes, non-finite values, or do not fit the task."""


class TaskError(SymestError):
    """Unknown task, or a size the task does not allow."""


class BudgetError(SymestError):
    """A compute budget or sample count is too small (or not positive) for a method."""


class MethodError(SymestError):
    """Unknown estimation method, or a method that cannot handle this model."""
