"""The course's grading engine inside stock nbgrader, and nbgrader's gradebook fed from our results.

``nbgrader_config.py`` (repository root) puts :class:`TrustedAutograde` in
``Autograde.autograde_preprocessors`` where nbgrader's ``Execute`` would be.
For each submitted notebook it calls :func:`autograder.engine.grade_notebook`
— the same sealed kernel, checks outside, verdict rule and points as
``python -m autograder grade`` — and writes the verdicts where nbgrader's
``SaveAutoGrades`` reads them: a passed test cell gets no output, a failed one
an ``error`` output whose only text is the failure's message (no traceback,
no check source, no path); ``generate_feedback`` removes the hidden blocks
(``ClearHiddenTests`` in its preprocessors). Tags and metadata in the submission play no part: the engine
takes cell kinds, test code and points from ``solutions/``.

:class:`Normalise` makes ``nbgrader generate_assignment`` write exactly what
``python -m autograder release`` writes. :func:`write_gradebook` records a
whole ``grade`` run in an nbgrader gradebook (``--gradebook URL``).
"""
from __future__ import annotations

import atexit
import threading
from pathlib import Path
from typing import Iterable

from nbformat import NotebookNode
from nbformat.v4 import new_output

from autograder.results import NotebookResult

REPO = Path(__file__).resolve().parent.parent

try:
    from nbgrader.preprocessors import NbGraderPreprocessor
except ImportError:  # pragma: no cover - nbgrader is pinned in requirements.txt
    NbGraderPreprocessor = object  # type: ignore[assignment,misc]

_lock = threading.Lock()
_worker = None
_canaries: dict[str, str | None] = {}


def _shared_worker():
    """One kernel factory and rules process for the whole nbgrader command, closed at exit."""
    global _worker
    if _worker is None:
        from autograder.grading import Worker

        _worker = Worker()
        atexit.register(_worker.close)
    return _worker


def _is_test(cell: NotebookNode) -> bool:
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


def _grade_here(nb: NotebookNode, student: str, aid: str):
    """Grade ``nb`` with the shared worker, after the chapter's canary (once per process)."""
    from autograder.grading import canary
    from autograder.kernels import InfrastructureError
    from autograder.limits import Limits
    from autograder.notebooks import load_assignment

    assignment = load_assignment(aid)
    limits = Limits()
    with _lock:
        worker = _shared_worker()
        if aid not in _canaries:
            try:
                _canaries[aid] = canary(assignment, worker, limits)[1]
            except InfrastructureError as err:
                _canaries[aid] = str(err)
        if _canaries[aid]:
            raise RuntimeError(f"grading cannot work on this machine: {_canaries[aid]}")
        result = worker.grade(_plain(nb), student, assignment, limits)
    if result.grader_errors:  # never a grade: nbgrader records this notebook as failed and exits non-zero
        raise RuntimeError(f"a hidden check failed in the grader's own code, not in {student}'s: "
                           f"{result.grader_errors[0]}")
    return result


def _mark_test_cells(nb: NotebookNode, result: NotebookResult) -> None:
    """What nbgrader reads as the verdicts: no output for a passed test cell, the message as an error otherwise."""
    verdicts = {t.grade_id: t for t in result.tests}
    for cell in nb.cells:
        if not _is_test(cell):
            continue
        cell.outputs = []
        t = verdicts.get(cell.metadata.nbgrader.get("grade_id"))
        if t is not None and not t.passed:
            cell.outputs.append(new_output("error", ename="TestFailed", evalue=t.message,
                                           traceback=[f"TestFailed: {t.message}"]))


class TrustedAutograde(NbGraderPreprocessor):
    """Grade the notebook with the course's engine; leave nbgrader-style outputs on its test cells."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        student, aid = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        result = _grade_here(nb, student, aid)
        self.log.info("%s/%s: %g of %g points (%s)", student, aid, result.points, result.max_points, result.status)
        _mark_test_cells(nb, result)
        return nb, resources


class TrustedValidate(NbGraderPreprocessor):
    """nbgrader's Validate (the JupyterLab button, ``nbgrader validate``) with the grading verdict.

    The chapter is recognised by the answer cells' ids; the notebook is graded
    exactly as ``python -m autograder validate`` grades it, hidden checks included.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        aid = chapter_of(nb)
        if aid is None:
            raise RuntimeError("this notebook has none of the course's answer cells")
        _mark_test_cells(nb, _grade_here(nb, "you", aid))
        return nb, resources


def chapter_of(nb: NotebookNode) -> str | None:
    """The chapter whose exercises the notebook's answer cells are (by their nbgrader ids), if any."""
    from autograder.notebooks import load_assignment
    from autograder.release import assignment_ids

    ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    scores = {aid: len(ids & set(load_assignment(aid).exercises)) for aid in assignment_ids()}
    best = max(scores, key=scores.get, default=None)
    return best if best is not None and scores[best] > 0 else None


def use_trusted_validation() -> None:
    """Make nbgrader's Validator run :class:`TrustedValidate` instead of executing the visible tests.

    nbgrader 0.9's ``Validator.preprocessors`` is not a configurable trait, so
    the course's ``nbgrader_config.py`` sets its default here; everything else
    about validation (checksums, messages, the JupyterLab button) stays nbgrader's.
    """
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput
    from nbgrader.validator import Validator

    Validator.class_traits()["preprocessors"].default_value = [CheckCellMetadata, ClearOutput, TrustedValidate]


def _plain(nb: NotebookNode) -> dict:
    import json

    return json.loads(json.dumps(nb))


#: the nbgrader metadata that tells nbgrader what a cell is (and enters the checksum it compares)
CELL_FLAGS = ("grade", "solution", "locked", "points", "grade_id", "task")


class RestoreCellFlags(NbGraderPreprocessor):
    """Every course cell's nbgrader flags (``CELL_FLAGS``) as ``solutions/<aid>/<aid>.ipynb`` has them.

    nbgrader's ``OverwriteCells`` restores a cell's source, type, points and
    checksum but not its ``grade``/``solution`` flags, which enter the checksum:
    a test cell re-flagged as an answer cell would stop ``nbgrader autograde``
    for that student with "Inconsistent checksums". Placed before
    ``OverwriteCells`` in ``Autograde.sanitize_preprocessors``; cells whose
    ``grade_id`` is not the course's are left to nbgrader.
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from autograder.notebooks import load_assignment, nbgrader_meta

        aid = resources["nbgrader"]["assignment"]
        try:
            source = load_assignment(aid).cells
        except FileNotFoundError:
            self.log.warning("%s is not one of the course's assignments: its cells' nbgrader flags are kept", aid)
            return nb, resources
        flags = {m["grade_id"]: m for m in map(nbgrader_meta, source) if m.get("grade_id")}
        for cell in nb.cells:
            meta = nbgrader_meta(cell)
            want = flags.get(meta.get("grade_id"))
            if want is None:
                continue
            changed = sorted(k for k in CELL_FLAGS if meta.get(k) != want.get(k))
            for key in changed:
                if key in want:
                    meta[key] = want[key]
                else:
                    del meta[key]
            if changed:
                self.log.warning("cell %s: nbgrader flags %s restored from the source notebook",
                                 want["grade_id"], ", ".join(changed))
        return nb, resources


class Normalise(NbGraderPreprocessor):
    """Released notebooks without outputs or cell ids and with the course's kernelspec (as ``release`` writes)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        from autograder.release import normalise

        return normalise(nb), resources


def write_gradebook(url: str, results: Iterable[NotebookResult]) -> int:
    """Record every result's test-cell scores as nbgrader autograder scores; returns how many notebooks.

    Students and assignments are created as needed, with the notebooks' grade
    cells and points taken from ``solutions/`` (what ``generate_assignment``
    records), so formgrader, manual grading, ``nbgrader export`` and late
    penalties work on these results.
    """
    import os
    import sys

    from nbgrader.api import Gradebook

    from autograder.notebooks import load_assignment

    # nbgrader creates a new gradebook by running `alembic`, which lives beside this interpreter
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    count = 0
    known: set[str] = set()
    with _open_gradebook(Gradebook, url) as gb:
        for res in results:
            if res.status == "missing":
                continue  # nothing was submitted: no submission in the gradebook, as with nbgrader's own collect
            aid = res.assignment_id
            if aid not in known:
                _ensure_assignment(gb, load_assignment(aid))
                known.add(aid)
            _find_or_add(gb, lambda: gb.find_student(res.student_id), lambda: gb.add_student(res.student_id))
            _find_or_add(gb, lambda: gb.find_submission(aid, res.student_id),
                         lambda: gb.add_submission(aid, res.student_id))
            for t in res.tests:
                grade = gb.find_grade(t.grade_id, aid, aid, res.student_id)
                grade.auto_score = t.points
            gb.db.commit()
            count += 1
    return count


def _open_gradebook(Gradebook, url: str):
    """Open (creating its tables if needed) the gradebook; another host creating them at the same time is waited
    for."""
    import random
    import time

    from sqlalchemy.exc import DBAPIError

    for attempt in range(8):
        try:
            return Gradebook(url)
        except DBAPIError:
            if attempt == 7:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _ensure_assignment(gb, assignment) -> None:
    """The assignment, its notebook and its grade cells in the gradebook, as generate_assignment makes them."""
    aid = assignment.aid
    _find_or_add(gb, lambda: gb.find_assignment(aid), lambda: gb.add_assignment(aid))
    _find_or_add(gb, lambda: gb.find_notebook(aid, aid), lambda: gb.add_notebook(aid, aid))
    for t in assignment.tests:
        _find_or_add(gb, lambda: gb.find_grade_cell(t.grade_id, aid, aid),
                     lambda: gb.add_grade_cell(t.grade_id, aid, aid, max_score=t.points, cell_type="code"))
        _find_or_add(gb, lambda: gb.find_source_cell(t.grade_id, aid, aid),
                     lambda: gb.add_source_cell(t.grade_id, aid, aid, cell_type="code", locked=True,
                                                source=t.visible, checksum=None))


def _find_or_add(gb, find, add):
    """The entry ``find`` returns, added first if missing; safe when several grading hosts add it at once."""
    from nbgrader.api import InvalidEntry, MissingEntry

    for _ in range(5):
        try:
            return find()
        except MissingEntry:
            pass
        try:
            return add()
        except InvalidEntry:  # another host added it between the two calls: nbgrader has rolled back
            gb.db.rollback()
    return find()
