"""Grade a class: every submission in a fresh sandboxed kernel, in parallel, resumable, nothing lost.

    python -m autograder grade SUBMISSIONS --out OUT [--workers N] [--force]

``SUBMISSIONS/<student_id>/<assignment_id>/<assignment_id>.ipynb`` (nbgrader's
``submitted/`` layout). Results are stored per notebook under
``OUT/.results/`` as soon as they are known, so an interrupted run resumes
where it stopped; ``OUT/grades.csv`` and ``OUT/feedback/`` are written from them.
"""
from __future__ import annotations

import csv
import json
import os
import queue
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from autograder import feedback
from autograder.engine import grade_notebook
from autograder.kernels import InfrastructureError, Zygote
from autograder.limits import Limits
from autograder.notebooks import Assignment, load_assignment
from autograder.policy_process import PolicyProcess
from autograder.results import NotebookResult, refused
from autograder.sandbox import describe_layers
from autograder.submissions import inspect_submission

REPO = Path(__file__).resolve().parent.parent
CSV_HEADER = ["student_id", "assignment_id", "grade_id", "points", "max_points", "status"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


def discover(submissions: Path, assignments: dict[str, Assignment], only: str | None = None,
             only_student: str | None = None) -> list[tuple[str, str]]:
    """Every (student, assignment) pair to grade: each student folder × each assignment anyone submitted."""
    students = []
    for entry in sorted(os.scandir(submissions), key=lambda e: e.name):
        # a symlinked student folder is listed (and refused per notebook), never followed for discovery
        if (entry.is_dir(follow_symlinks=False) or entry.is_symlink()) and _SAFE_ID.match(entry.name):
            students.append(entry.name)
    seen = set()
    for s in students:
        if (submissions / s).is_symlink():
            continue
        for entry in os.scandir(submissions / s):
            if entry.name in assignments:
                seen.add(entry.name)
    wanted = [a for a in sorted(assignments) if a in seen and (only is None or a == only)]
    if only and only not in wanted and only in assignments:
        wanted = [only]
    return [(s, a) for s in students if only_student in (None, s) for a in wanted]


def grade_one(student: str, aid: str, submissions: Path, assignment: Assignment, worker: "Worker",
              limits: Limits) -> NotebookResult:
    """Grade one submitted notebook; a refused file is a result too. Raises InfrastructureError."""
    folder = submissions / student / aid
    path = folder / f"{aid}.ipynb"
    status, nb = inspect_submission(path, submissions, f"{aid}.ipynb", limits)
    if (submissions / student).is_symlink() or folder.is_symlink():
        status, nb = "invalid-notebook", None  # links are never followed
    elif status == "missing" and folder.is_dir() and any(p.suffix == ".ipynb" for p in folder.iterdir()):
        status = "wrong-name"
    if status is not None:
        return refused(student, aid, status, [(t.grade_id, t.points) for t in assignment.tests])
    return grade_notebook(nb, student, assignment, limits, worker.zygote, worker.policy)


class Worker:
    """What one grading thread holds: a kernel factory and a source-rules process."""

    def __init__(self) -> None:
        self.zygote = Zygote()
        self.policy = PolicyProcess()

    def close(self) -> None:
        self.zygote.close()
        self.policy.close()


def canary(assignment: Assignment, worker: Worker, limits: Limits) -> tuple[NotebookResult, str | None]:
    """Grade the solution (must earn full marks) and the blank release (must earn 0): grading works here, or why not."""
    solution = json.loads((REPO / "solutions" / assignment.aid / f"{assignment.aid}.ipynb").read_text("utf-8"))
    release = json.loads((REPO / "chapters" / assignment.aid / f"{assignment.aid}.ipynb").read_text("utf-8"))
    full = grade_notebook(solution, "canary", assignment, limits, worker.zygote, worker.policy)
    if full.points != assignment.max_points:
        failed = [f"{t.grade_id}: {t.message}" for t in full.tests if not t.passed][:3]
        return full, (f"the solution of {assignment.aid} earns {full.points:g} of {assignment.max_points:g} points "
                      f"in the sandboxed kernel (status {full.status}{': ' + full.detail if full.detail else ''}; "
                      + "; ".join(failed) + ")")
    blank = grade_notebook(release, "canary", assignment, limits, worker.zygote, worker.policy)
    if blank.points != 0:
        return full, f"the blank release of {assignment.aid} earns {blank.points:g} points"
    return full, None


def _write_json_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def result_path(out: Path, student: str, aid: str) -> Path:
    return out / ".results" / student / f"{aid}.json"


def load_result(path: Path) -> NotebookResult | None:
    try:
        return NotebookResult.from_json(path.read_text(encoding="utf-8"))
    except OSError:
        return None


def write_outputs(out: Path, pairs: list[tuple[str, str]], assignments: dict[str, Assignment]) -> Path:
    """grades.csv (sorted, one row per student × assignment × test cell) and the feedback pages."""
    rows = []
    for student, aid in pairs:
        res = load_result(result_path(out, student, aid))
        if res is None:
            continue
        for t in res.tests:
            rows.append([student, aid, t.grade_id, _fmt(t.points), _fmt(t.max_points), t.status])
        feedback.write(out / "feedback" / student / aid / f"{aid}.html", res, assignments[aid])
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    csv_path = out / "grades.csv"
    tmp = csv_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        w.writerows(rows)
    os.replace(tmp, csv_path)
    return csv_path


def _fmt(x: float) -> str:
    return f"{float(x):g}"


def grade(submissions: Path, out: Path, workers: int | None = None, force: bool = False,
          only: str | None = None, only_student: str | None = None, limits: Limits | None = None,
          progress: bool = True, log=print) -> int:
    """Grade every submission; returns the exit code: 0 when every notebook was graded, 3 when grading failed."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    limits = limits or Limits()
    if not submissions.is_dir():
        log(f"error: SUBMISSIONS must be a folder, got {submissions}")
        return 2
    assignments = {aid: load_assignment(aid) for aid in sorted(p.name for p in (REPO / "solutions").iterdir()
                                                               if (p / f"{p.name}.ipynb").exists())}
    pairs = discover(submissions, assignments, only, only_student)
    todo = [(s, a) for s, a in pairs if force or load_result(result_path(out, s, a)) is None]
    workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(todo))))
    pool: queue.Queue[Worker] = queue.Queue()
    team = [Worker() for _ in range(workers)]
    for w in team:
        pool.put(w)
    try:
        if todo and not _canaries(sorted({a for _, a in todo}), assignments, team, limits, log):
            return 3
        out.mkdir(parents=True, exist_ok=True)
        log(f"grading {len(todo)} notebooks ({len(pairs) - len(todo)} already graded) with {workers} workers")
        failures: list[str] = []

        def task(pair: tuple[str, str]) -> None:
            student, aid = pair
            w = pool.get()
            try:
                for attempt in range(3):
                    try:
                        res = grade_one(student, aid, submissions, assignments[aid], w, limits)
                        break
                    except InfrastructureError as err:
                        w.close()
                        if attempt == 2:
                            failures.append(f"{student}/{aid}: {err}")
                            return
                _write_json_atomic(result_path(out, student, aid), res.to_json())
            finally:
                pool.put(w)

        start = time.monotonic()
        with ThreadPoolExecutor(workers) as ex, tqdm(total=len(todo), desc="grading", unit="nb",
                                                     disable=not progress) as bar:
            for _ in ex.map(lambda p: (task(p), bar.update(1)), todo):
                if failures:
                    break
        elapsed = time.monotonic() - start
    finally:
        for w in team:
            w.close()
    if failures:
        log(f"error: grading failed for {len(failures)} notebook(s) for reasons of the grading machinery, "
            f"not of the submissions; no grades.csv was written. First: {failures[0]}")
        return 3
    csv_path = write_outputs(out, pairs, assignments)
    rate = len(todo) / elapsed * 60 if elapsed > 0 and todo else 0.0
    log(f"wrote {csv_path} and feedback for {len(pairs)} notebooks: {len(todo)} graded in {elapsed:.1f} s "
        f"({rate:.1f} notebooks/min, {workers} workers)")
    return 0


def _canaries(aids: list[str], assignments: dict[str, Assignment], team: list[Worker], limits: Limits,
              log) -> bool:
    """Run the canary of every assignment about to be graded, in parallel; print the sandbox layers once."""
    with ThreadPoolExecutor(len(team)) as ex:
        outcomes = list(ex.map(lambda i: _canary_safe(assignments[aids[i]], team[i % len(team)], limits),
                               range(len(aids))))
    reported = False
    for aid, (res, problem) in zip(aids, outcomes):
        if res is not None and res.layers and not reported:
            for line in describe_layers(res.layers):
                log(line)
            reported = True
        if problem:
            log(f"error: grading cannot work on this machine: {problem}. No grade was written.")
            return False
    return True


def _canary_safe(assignment: Assignment, worker: Worker, limits: Limits):
    try:
        return canary(assignment, worker, limits)
    except InfrastructureError as err:
        return None, str(err)
