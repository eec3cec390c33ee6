"""Argument validation for the torch reference implementations."""
from __future__ import annotations

from typing import Sequence

import torch

from rnncourse._validate import describe


def check_tensor(name: str, value: object, shape: Sequence[int | None]) -> None:
    """Raise unless ``value`` is a floating-point tensor of ``shape`` (``None`` matches any size)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {describe(value)}")
    if value.dim() != len(shape) or any(w is not None and g != w for g, w in zip(value.shape, shape)):
        sizes = ["?" if s is None else str(s) for s in shape]
        expected = "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"  # (12,) like a tuple
        raise ValueError(f"{name} must have shape {expected}, got {describe(value)}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {describe(value)}")
