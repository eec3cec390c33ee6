"""Typed grading results: what one test cell and one notebook earned, and why.

``NotebookResult`` is written once per notebook (``OUT/.results/<student>/<id>.json``)
by :mod:`autograder.engine` and read by everything downstream — ``grades.csv``,
the feedback pages, the report, ``validate``, nbgrader's gradebook — so none
of them re-derives a point.

Test statuses: ``ok`` (the check ran: passed or failed), ``forbidden`` (the
exercise's code broke the course's source rules and never ran), ``timeout``,
``error`` (the kernel died or broke the protocol), and the refusals of the
file itself: ``missing``, ``wrong-name``, ``invalid-notebook``, ``too-large``,
``too-many-cells``.

Every string in a result is made writable text (:func:`autograder.text.clean_tree`)
when the result is stored and when it is read back, so no student's output can
stop the writing of ``grades.csv`` or a feedback page.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from autograder.text import clean_tree

RESULT_VERSION = 3

REFUSALS = {
    "missing": "no notebook was submitted",
    "wrong-name": "the notebook must be named {aid}.ipynb",
    "invalid-notebook": "the file is not a valid Jupyter notebook",
    "too-large": "the notebook, or one of its cells, is larger than the limit",
    "too-many-cells": "the notebook has more cells than the limit",
}


@dataclass
class TestResult:
    """One autograded test cell."""

    grade_id: str
    max_points: float
    points: float = 0.0
    passed: bool = False
    status: str = "ok"
    message: str = ""  # for the student: why it failed (never hidden test code)


@dataclass
class NotebookResult:
    """One student's notebook for one assignment."""

    student_id: str
    assignment_id: str
    status: str = "ok"  # ok, timeout, error, or a refusal of the file
    detail: str = ""
    tests: list[TestResult] = field(default_factory=list)
    forbidden: dict[str, str] = field(default_factory=dict)  # exercise -> the rule its code broke
    dropped_cells: list[str] = field(default_factory=list)  # added cells that were not run, and why
    cell_errors: dict[str, str] = field(default_factory=dict)  # answer grade_id -> what its cell raised
    layers: dict = field(default_factory=dict)  # the kernel's sandbox layers
    grader_errors: list[str] = field(default_factory=list)  # faults of the grader's own check code (instructor only)
    version: int = RESULT_VERSION

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.tests)

    def test(self, grade_id: str) -> TestResult | None:
        return next((t for t in self.tests if t.grade_id == grade_id), None)

    def to_json(self) -> str:
        return json.dumps(clean_tree(asdict(self)), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "NotebookResult | None":
        """The result stored in ``text``, or None if it is unreadable or of another version (then it is graded
        again)."""
        try:
            data = clean_tree(json.loads(text))
            if data.get("version") != RESULT_VERSION:
                return None
            data["tests"] = [TestResult(**t) for t in data["tests"]]
            return cls(**data)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None

    def cleaned(self) -> "NotebookResult":
        """The same result with every string made writable text (what storing and reading it back give)."""
        result = NotebookResult.from_json(self.to_json())
        assert result is not None
        return result


def refused(student: str, aid: str, status: str, tests: list[tuple[str, float]]) -> NotebookResult:
    """A notebook that was not run at all: every test cell scores 0 with the refusal as its status."""
    detail = REFUSALS.get(status, status).format(aid=aid)
    return NotebookResult(student, aid, status, detail,
                          [TestResult(gid, pts, status=status, message=detail) for gid, pts in tests])
