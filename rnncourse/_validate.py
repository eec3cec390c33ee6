"""Argument validation shared by the reference implementations.

Every public function validates its inputs with these helpers so that a bad
argument raises a ``ValueError``/``TypeError`` naming the argument and the value
received, instead of failing deep inside a matrix product.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages (shape and dtype for arrays)."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_ndim(name: str, value: Any, ndim: int) -> None:
    """Raise ``TypeError`` unless ``value`` is array-like, ``ValueError`` unless it has ``ndim`` axes."""
    if not hasattr(value, "shape"):
        raise TypeError(f"{name} must be an array or tensor, got {describe(value)}")
    if len(value.shape) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {describe(value)}")


def check_shape(name: str, value: Any, shape: Sequence[int | None]) -> None:
    """Check that ``value`` has ``shape``; ``None`` entries match any size."""
    check_ndim(name, value, len(shape))
    for got, want in zip(value.shape, shape):
        if want is not None and got != want:
            expected = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {expected}, got {describe(value)}")


def check_positive_int(name: str, value: Any) -> None:
    """Raise unless ``value`` is an integer >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")


def check_positive_float(name: str, value: Any) -> None:
    """Raise unless ``value`` is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
