"""What each chapter's check tests ask of every one of its checks: a correct answer passes for every student,
students get different hidden cases, and an answer of the wrong type fails with a ``CheckFailure``."""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

import numpy as np
import pytest
import torch

from autograder.checks import CheckFailure, cases_for


def passes_for_students(check: Callable, answer: Any, students: int = 25) -> None:
    """``check(answer)`` passes under the hidden cases of ``students`` different students."""
    for i in range(students):
        with cases_for(f"student-{i}"):
            check(answer)


def fingerprint(args: Iterable) -> np.ndarray:
    """The random data among a call's arguments, flattened in float64: arrays and tensors (also in lists and
    tuples) and a numpy generator's next draws."""
    parts = []
    for a in args:
        if isinstance(a, torch.Tensor):
            parts.append(a.detach().double().reshape(-1).numpy())
        elif isinstance(a, np.ndarray):
            parts.append(np.ravel(a).astype(np.float64))
        elif isinstance(a, (list, tuple)):
            parts.append(fingerprint(a))
        elif isinstance(a, np.random.Generator):
            parts.append(copy.deepcopy(a).standard_normal(4))
    return np.concatenate(parts) if parts else np.zeros(0)


def first_inputs(check: Callable, reference: Callable, student: str) -> np.ndarray:
    """The ``fingerprint`` of the first call that ``check`` makes for ``student``."""
    seen = []

    def record(*args, **kwargs):
        seen.append(fingerprint(args))
        return reference(*args, **kwargs)

    with cases_for(student):
        check(record)
    return seen[0]


def students_get_different_cases(check: Callable, reference: Callable) -> None:
    assert not np.array_equal(first_inputs(check, reference, "student-a"), first_inputs(check, reference, "student-b"))


def returning(value: Any) -> Callable:
    """An answer that returns ``value`` whatever it is given."""
    return lambda *args, **kwargs: value


def nan_like(value: Any) -> Any:
    """``value`` with every floating-point tensor and float replaced by NaN (its structure kept)."""
    if isinstance(value, torch.Tensor):
        return torch.full_like(value, float("nan")) if value.is_floating_point() else value
    if isinstance(value, float):
        return float("nan")
    if isinstance(value, (tuple, list)):
        return type(value)(nan_like(v) for v in value)
    return value


def fails_cleanly(check: Callable, answers: Iterable[Callable], match: str | None = None) -> None:
    """Each answer makes ``check`` raise a CheckFailure (matching ``match``), never an error of its own code."""
    for answer in answers:
        with pytest.raises(CheckFailure, match=match):
            check(answer)
