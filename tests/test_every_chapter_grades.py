"""Every chapter through the real engine: its solution earns full marks and its blank release none.

This is the canary that ``grade`` runs before grading, for every chapter:
the hidden checks must work through the channel (plain data, callbacks,
in-place changes mirrored back, gradients across the boundary).
"""
from __future__ import annotations

import pytest

from autograder.grading import Worker, canary
from autograder.limits import Limits
from autograder.notebooks import load_assignment
from tests.notebook_utils import IDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


@pytest.mark.parametrize("aid", IDS)
def test_the_solution_earns_full_marks_and_the_release_none(aid, worker):
    full, problem = canary(load_assignment(aid), worker, Limits())
    assert problem is None, problem
    assert full.status == "ok" and all(t.passed for t in full.tests)
