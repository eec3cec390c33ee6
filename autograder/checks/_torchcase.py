"""Helpers shared by the torch chapters' checks."""
from __future__ import annotations

import torch

_Generator = torch.Generator
_randn = torch.randn


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    return _randn(*shape, generator=gen, dtype=dtype) * scale


def generator(seed: int) -> torch.Generator:
    return _Generator().manual_seed(seed)


TOL = {torch.float64: 1e-9, torch.float32: 1e-5}
