"""Checks are pure: each computes its expected values before calling the student's function, on copies, and
fails an answer that changes inputs the exercise does not ask it to change.

For every exercise of every chapter, ``tests/checks_purity`` holds an answer that overwrites its inputs in place
and returns exactly what the reference gives on the overwritten inputs. A check that computed its expected value
after the call would pass it; each check must fail it, with a message that says the inputs were changed or that
the value is wrong.
"""
from __future__ import annotations

import pytest

from autograder.checks import CheckFailure
from autograder.notebooks import load_assignment
from autograder.release import assignment_ids
from tests.checks_purity import all_cases

CASES = all_cases()
EXERCISES = sorted(gid for aid in assignment_ids() for gid in load_assignment(aid).exercises)


def test_every_exercise_has_an_adversary():
    missing = [gid for gid in EXERCISES if gid not in CASES]
    assert not missing, f"exercises without an in-place adversary in tests/checks_purity: {missing}"


@pytest.mark.parametrize("exercise", sorted(CASES))
def test_an_answer_that_changes_its_inputs_fails(exercise):
    adversary = CASES[exercise]
    with pytest.raises(CheckFailure) as info:
        adversary.check(adversary.answer)
    message = str(info.value)
    assert "def check_" not in message and "BEGIN HIDDEN" not in message, message
