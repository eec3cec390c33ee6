"""For every exercise: its hidden check and an answer that changes its inputs in place and returns what the
reference gives on the changed inputs (tests/test_checks_pure.py runs each check against it).

Each chapter's module (``ch01.py`` …) defines ``CASES``: exercise grade_id -> ``Adversary``. Most exercises use
``mutate_then_match(reference)`` (``overwriting`` builds those entries); an exercise whose task is to change an argument in place, or whose answer is a
class or a number, builds its own adversary (it still has to change what the exercise does not ask it to change).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

CHAPTERS = ("ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09")


@dataclass
class Adversary:
    check: Callable[[Any], None]  # the hidden check, e.g. check_cross_entropy
    answer: Callable[..., Any]  # what the student submits
    why: str = ""  # what the answer does, for the failure message of the test


def _float_leaves(value: Any, depth: int = 0) -> list:
    if depth > 8:
        return []
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return [value]
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating) and value.flags.writeable:
        return [value]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _float_leaves(v, depth + 1)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _float_leaves(v, depth + 1)]
    return []


def change_in_place(*values: Any, fill: float = 0.25) -> None:
    """Overwrite every floating-point array and tensor among ``values`` (nested in lists, tuples, dicts too)."""
    for leaf in _float_leaves(values):
        if isinstance(leaf, torch.Tensor):
            with torch.no_grad():
                leaf.fill_(fill)
        else:
            leaf[...] = fill


def mutate_then_match(reference: Callable[..., Any], fill: float = 0.25) -> Callable[..., Any]:
    """An answer that overwrites its floating-point inputs in place, then returns the reference's value on them:
    a check that computes its expected value after the call (or never looks at its inputs) is fooled by it."""
    def answer(*args: Any, **kwargs: Any) -> Any:
        change_in_place(args, kwargs, fill=fill)
        return reference(*args, **kwargs)

    return answer


#: what ``overwriting`` answers do
OVERWRITES = "overwrites its floating-point inputs with 0.25, then returns the reference's value on them"


def overwriting(checks: ModuleType, references: ModuleType, *exercises: str) -> dict[str, Adversary]:
    """For each exercise, ``checks.check_<exercise>`` against ``mutate_then_match(references.<exercise>)``."""
    return {name: Adversary(getattr(checks, f"check_{name}"), mutate_then_match(getattr(references, name)),
                            OVERWRITES) for name in exercises}


def all_cases() -> dict[str, Adversary]:
    cases: dict[str, Adversary] = {}
    for name in CHAPTERS:
        try:
            module = importlib.import_module(f"tests.checks_purity.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"tests.checks_purity.{name}":
                raise
            continue
        cases.update(module.CASES)
    return cases
