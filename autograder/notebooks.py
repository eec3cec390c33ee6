"""Reading the course's source notebooks and merging a submission into the notebook that is graded."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def source_of(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {})
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


@dataclass
class TestCell:
    grade_id: str  # e.g. test_rnn_step
    points: float  # from the source notebook, whatever the submission says
    exercise: str  # the answer cell it grades (rnn_step), or "" if none matches
    visible: str  # the test's source without its hidden block


@dataclass
class Assignment:
    """One chapter's instructor source: cells, exercises, test cells and points."""

    aid: str
    cells: list[dict]
    exercises: list[str] = field(default_factory=list)
    tests: list[TestCell] = field(default_factory=list)
    stubs: dict[str, str] = field(default_factory=dict)  # answer grade_id -> released stub source

    @property
    def max_points(self) -> float:
        return sum(t.points for t in self.tests)


def visible_part(source: str) -> str:
    """A test cell's source with its hidden block removed."""
    out, hidden = [], False
    for line in source.splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            hidden = True
            continue
        if "### END HIDDEN TESTS" in line:
            hidden = False
            continue
        if not hidden:
            out.append(line)
    return "\n".join(out)


def hidden_part(source: str) -> str:
    """The code between a test cell's hidden-test markers (what the grader runs as the test's check)."""
    out, hidden = [], False
    for line in source.splitlines():
        if "### BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "### END HIDDEN TESTS" in line:
            hidden = False
        elif hidden:
            out.append(line)
    return "\n".join(out)


def load_assignment(aid: str, solutions: Path | None = None, chapters: Path | None = None) -> Assignment:
    solutions = solutions or REPO / "solutions"
    chapters = chapters or REPO / "chapters"
    nb = json.loads((solutions / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))
    released = {}
    release_path = chapters / aid / f"{aid}.ipynb"
    if release_path.exists():
        for cell in json.loads(release_path.read_text(encoding="utf-8"))["cells"]:
            gid = nbgrader_meta(cell).get("grade_id")
            if gid:
                released[gid] = source_of(cell)
    a = Assignment(aid, nb["cells"])
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if meta.get("solution") and gid:
            a.exercises.append(gid)
            a.stubs[gid] = released.get(gid, "raise NotImplementedError()")
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and meta.get("grade_id"):
            gid = meta["grade_id"]
            exercise = max((e for e in a.exercises if gid == f"test_{e}" or gid.startswith(f"test_{e}_")),
                           key=len, default="")
            a.tests.append(TestCell(gid, float(meta.get("points", 0)), exercise, visible_part(source_of(cell))))
    return a


@dataclass
class MergedCell:
    source: str
    kind: str  # "course" (locked or verbatim course code), "answer", "test" or "student"
    grade_id: str = ""


def merge(assignment: Assignment, submitted: dict) -> list[MergedCell]:
    """The cells to execute: course cells and tests from the source, answers and added cells from the student.

    Locked cells and test cells always come from the source (a student's edits
    and metadata changes to them are ignored; deleted ones are restored); an
    answer cell comes from the student's cell with the same ``grade_id`` (the
    released stub if it is missing); cells the student added are kept after
    the course cell they followed.
    """
    student_answers: dict[str, str] = {}
    added_after: dict[int, list[str]] = {}
    source_ids = {nbgrader_meta(c).get("grade_id"): i for i, c in enumerate(assignment.cells)
                  if nbgrader_meta(c).get("grade_id")}
    course_sources = {source_of(c) for c in assignment.cells if c.get("cell_type") == "code"}
    anchor = -1
    for cell in submitted.get("cells", []):
        if cell.get("cell_type") != "code":
            gid = nbgrader_meta(cell).get("grade_id")
            if gid in source_ids:
                anchor = source_ids[gid]
            continue
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        src = source_of(cell)
        if gid in assignment.exercises and gid not in student_answers:
            student_answers[gid] = src
            anchor = source_ids[gid]
        elif gid in source_ids:
            anchor = source_ids[gid]  # a locked or test cell: the source's version is used
        elif src in course_sources:
            anchor = max((i for i, c in enumerate(assignment.cells) if source_of(c) == src), default=anchor)
        else:
            added_after.setdefault(anchor, []).append(src)
    merged = [MergedCell(s, "student") for s in added_after.get(-1, [])]
    for i, cell in enumerate(assignment.cells):
        if cell.get("cell_type") == "code":
            meta = nbgrader_meta(cell)
            gid = meta.get("grade_id", "")
            if meta.get("solution") and gid in assignment.exercises:
                merged.append(MergedCell(student_answers.get(gid, assignment.stubs[gid]), "answer", gid))
            elif meta.get("grade"):
                merged.append(MergedCell(source_of(cell), "test", gid))
            else:
                merged.append(MergedCell(source_of(cell), "course", gid))
        merged += [MergedCell(s, "student") for s in added_after.get(i, [])]
    return merged
