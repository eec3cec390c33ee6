"""``python -m autograder validate NOTEBOOK``: run a notebook the way grading does and list its test cells.

Students run it before submitting. It uses the released (student) version of
the chapter, so only the visible checks run; the notebook is executed in a
fresh sandboxed kernel exactly as in grading, and the exit code is 1 when any
test cell fails.
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.executor import Zygote
from autograder.limits import Limits
from autograder.notebooks import load_assignment, merge
from autograder.static import check_source, course_context

REPO = Path(__file__).resolve().parent.parent


def validate(notebook: Path, limits: Limits | None = None, log=print) -> int:
    notebook = Path(notebook)
    aid = notebook.stem
    if not (REPO / "chapters" / aid / f"{aid}.ipynb").exists():
        log(f"error: {notebook.name} is not one of the course's notebooks (expected e.g. 04_lstm.ipynb)")
        return 2
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log(f"error: {notebook} is not a valid notebook: {err}")
        return 2
    # the released notebook as the source: its test cells hold the visible checks only
    assignment = load_assignment(aid, solutions=REPO / "chapters")
    cells = merge(assignment, nb)
    aliases, reference = course_context(assignment.cells)
    problems = {}
    for cell in cells:
        if cell.kind in ("answer", "student"):
            found = check_source(cell.source, aid, aliases, reference)
            if found:
                problems[cell.grade_id or "an added cell"] = found
    z = Zygote()
    try:
        run = z.run([c.source for c in cells], limits or Limits(), [REPO / "solutions", REPO / ".git"])
    finally:
        z.close()
    failed = 0
    for cell, res in zip(cells, run.cells):
        if cell.kind != "test":
            continue
        ok = res.ran and not res.error and not res.stderr.strip()
        failed += not ok
        why = "" if ok else (f": {res.ename}: {res.evalue}" if res.error else
                             (": wrote to stderr (a warning counts as a failure)" if res.ran else f": {run.detail}"))
        log(f"{'PASSED' if ok else 'FAILED'}  {cell.grade_id}{why}")
    for where, found in problems.items():
        failed += 1
        log(f"FORBIDDEN  {where}: " + "; ".join(found))
    log(f"{len([c for c in cells if c.kind == 'test']) - min(failed, len(cells))} passed, {failed} failed")
    return 1 if failed else 0
