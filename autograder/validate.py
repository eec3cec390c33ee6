"""``python -m autograder validate NOTEBOOK``: the grading verdict for one notebook, before submitting it.

It grades the notebook exactly as ``python -m autograder grade`` does — the
same engine, the same sandboxed kernel, the same checks, the same verdict rule
(:func:`autograder.engine.verdict`) — and lists each test cell with its
points and, where it failed, the message. The exit code is 1 when any test
cell fails, 2 when the file cannot be graded, 3 when grading itself cannot
work on this machine.
"""
from __future__ import annotations

from pathlib import Path

from autograder.grading import Worker
from autograder.kernels import InfrastructureError
from autograder.limits import Limits
from autograder.notebooks import load_assignment
from autograder.results import REFUSALS, NotebookResult
from autograder.submissions import inspect_submission

REPO = Path(__file__).resolve().parent.parent


def validate_result(notebook: Path, limits: Limits | None = None) -> NotebookResult | str:
    """The grading result for one notebook file, or why it cannot be graded."""
    notebook = Path(notebook).resolve()
    aid = notebook.stem
    if not (REPO / "solutions" / aid / f"{aid}.ipynb").exists():
        return f"{notebook.name} is not one of the course's notebooks (expected e.g. 04_lstm.ipynb)"
    limits = limits or Limits()
    status, nb = inspect_submission(notebook, notebook.parent, f"{aid}.ipynb", limits)
    if status is not None:
        return REFUSALS.get(status, status).format(aid=aid)
    worker = Worker()
    try:
        return worker.grade(nb, "you", load_assignment(aid), limits)
    finally:
        worker.close()


def validate(notebook: Path, limits: Limits | None = None, log=print) -> int:
    try:
        result = validate_result(notebook, limits)
    except InfrastructureError as err:
        log(f"error: grading cannot work on this machine: {err}")
        return 3
    if isinstance(result, str):
        log(f"error: {result}")
        return 2
    for t in result.tests:
        log(f"{'PASSED' if t.passed else 'FAILED'}  {t.grade_id} ({t.points:g}/{t.max_points:g})"
            + ("" if t.passed else f": {t.message}"))
    for where, why in result.forbidden.items():
        log(f"FORBIDDEN  {where}: {why}")
    failed = sum(not t.passed for t in result.tests)
    log(f"{len(result.tests) - failed} passed, {failed} failed ({result.points:g}/{result.max_points:g} points)")
    return 1 if failed else 0
