"""Helpers shared by the torch chapters' checks."""
from __future__ import annotations

import numpy as np
import torch

from autograder.checks import CheckFailure

_Generator = torch.Generator
_randn = torch.randn


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    return _randn(*shape, generator=gen, dtype=dtype) * scale


def generator(seed: int) -> torch.Generator:
    return _Generator().manual_seed(seed)


TOL = {torch.float64: 1e-9, torch.float32: 1e-5}


# ----------------------------------------------------------------------------- results and purity

_Tensor = torch.Tensor
_equal = torch.equal


def expect_tensor(what: str, got, case: str, shape: tuple | None = None) -> torch.Tensor:
    """``got`` itself when it is a tensor (of ``shape``, if given); otherwise a CheckFailure naming ``what``."""
    if not isinstance(got, _Tensor):
        want = "a torch.Tensor" if shape is None else f"a torch.Tensor of shape {tuple(shape)}"
        raise CheckFailure(f"{what} should be {want}, got {type(got).__name__} ({case})")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise CheckFailure(f"{what} has shape {tuple(got.shape)}, expected {tuple(shape)} ({case})")
    return got


def as_number(what: str, got, case: str) -> float:
    """A returned Python number (or 0-d tensor / numpy scalar) as a float; anything else is a CheckFailure."""
    if isinstance(got, _Tensor) and got.numel() == 1 and not got.is_complex():
        return float(got.detach().reshape(()))
    if isinstance(got, bool) or not (isinstance(got, (int, float)) or hasattr(got, "__float__")):
        raise CheckFailure(f"{what} should be a number, got {type(got).__name__} ({case})")
    try:
        return float(got)
    except (TypeError, ValueError, OverflowError):
        raise CheckFailure(f"{what} should be a number, got {type(got).__name__} ({case})") from None


def frozen(value):
    """A copy of every tensor and array in ``value`` (nested lists and tuples kept), to compare after a call."""
    if isinstance(value, _Tensor):
        copy = value.detach().clone()
        return copy.requires_grad_(True) if value.requires_grad else copy
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(frozen(v) for v in value)
    if isinstance(value, list):
        return [frozen(v) for v in value]
    return value


def _same(before, after) -> bool:
    if isinstance(before, _Tensor):
        return (isinstance(after, _Tensor) and after.shape == before.shape and after.dtype == before.dtype
                and after.requires_grad == before.requires_grad and _equal(after.detach(), before.detach()))
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and after.shape == before.shape and bool((after == before).all())
    if isinstance(before, (tuple, list)):
        return isinstance(after, (tuple, list)) and len(after) == len(before) and \
            all(_same(b, a) for b, a in zip(before, after))
    return True


def expect_untouched(name: str, before: list, after: tuple, labels: list[str]) -> None:
    """Fail when a call changed one of its tensor arguments (values, shape or requires_grad) in place."""
    for label, b, a in zip(labels, before, after):
        if not _same(b, a):
            raise CheckFailure(f"{name} modified its input {label}; compute new tensors instead")
