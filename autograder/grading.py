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
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from autograder import feedback
from autograder.executor import Zygote
from autograder.limits import Limits
from autograder.notebooks import Assignment, load_assignment, merge
from autograder.sandbox import inspect_submission
from autograder.static import check_source, course_context, defined_names

REPO = Path(__file__).resolve().parent.parent
CSV_HEADER = ["student_id", "assignment_id", "grade_id", "points", "max_points", "status"]
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
RESULT_VERSION = 1


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


def grade_one(student: str, aid: str, submissions: Path, assignment: Assignment, zygote: Zygote, limits: Limits,
              hide: list[Path]) -> dict:
    """Grade one notebook; always returns a result, whatever the submission did."""
    folder = submissions / student / aid
    path = folder / f"{aid}.ipynb"
    status, nb = inspect_submission(path, submissions, f"{aid}.ipynb", limits)
    if (submissions / student).is_symlink() or folder.is_symlink():
        status, nb = "invalid-notebook", None  # links are never followed
    elif status == "missing" and folder.is_dir():
        others = [p.name for p in folder.iterdir() if p.suffix == ".ipynb"]
        if others:
            status = "wrong-name"
    result = {"version": RESULT_VERSION, "student_id": student, "assignment_id": aid, "status": status or "ok",
              "detail": "", "tests": {}, "forbidden": {}, "dropped_cells": [], "layers": {}}
    if status is not None:
        result["detail"] = {"missing": "no notebook was submitted",
                            "wrong-name": f"the notebook must be named {aid}.ipynb",
                            "too-large": "the notebook is larger than the limit",
                            "too-many-cells": "the notebook has more cells than the limit"}.get(
                                status, "the file is not a valid Jupyter notebook")
        for t in assignment.tests:
            result["tests"][t.grade_id] = {"passed": False, "points": 0.0, "max_points": t.points,
                                           "status": status, "message": result["detail"]}
        return result
    cells = merge(assignment, nb)
    aliases, reference = course_context(assignment.cells)
    forbidden: dict[str, str] = {}
    runnable = []
    for cell in cells:
        if cell.kind in ("answer", "student"):
            problems = check_source(cell.source, aid, aliases, reference)
            if problems:
                owners = [cell.grade_id] if cell.kind == "answer" else \
                    sorted(defined_names(cell.source) & set(assignment.exercises))
                for owner in owners:
                    forbidden.setdefault(owner, "; ".join(problems))
                if not owners:
                    result["dropped_cells"].append("; ".join(problems))
                continue  # code that breaks the rules never runs
        runnable.append(cell)
    run = zygote.run([c.source for c in runnable], limits, hide)
    result["layers"] = run.layers
    outcome = {c.grade_id: r for c, r in zip(runnable, run.cells) if c.kind == "test"}
    for t in assignment.tests:
        r = outcome.get(t.grade_id)
        entry = {"passed": False, "points": 0.0, "max_points": t.points, "status": "ok", "message": ""}
        if t.exercise in forbidden:
            entry.update(status="forbidden", message=f"not graded: {forbidden[t.exercise]}")
        elif r is None or not r.ran:
            entry.update(status=run.status if run.status != "ok" else "error",
                         message=run.detail or "the test cell did not run")
        elif r.error:
            entry["message"] = f"{r.ename}: {r.evalue}".strip()
        elif r.stderr.strip():
            entry["message"] = "the test wrote to stderr (a warning counts as a failure): " + \
                r.stderr.strip().splitlines()[-1][:300]
        else:
            entry.update(passed=True, points=t.points)
        result["tests"][t.grade_id] = entry
    if run.status != "ok":
        result["status"], result["detail"] = run.status, run.detail
    result["forbidden"] = forbidden
    return result


def _write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def result_path(out: Path, student: str, aid: str) -> Path:
    return out / ".results" / student / f"{aid}.json"


def load_result(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if data.get("version") == RESULT_VERSION else None
    except (OSError, ValueError):
        return None


def write_outputs(out: Path, pairs: list[tuple[str, str]], assignments: dict[str, Assignment]) -> Path:
    """grades.csv (sorted, one row per student × assignment × test cell) and the feedback pages."""
    rows = []
    for student, aid in pairs:
        res = load_result(result_path(out, student, aid))
        a = assignments[aid]
        for t in a.tests:
            entry = (res or {}).get("tests", {}).get(t.grade_id) or {"points": 0.0, "status": "error"}
            rows.append([student, aid, t.grade_id, _fmt(entry["points"]), _fmt(t.points), entry["status"]])
        if res is not None:
            feedback.write(out / "feedback" / student / aid / f"{aid}.html", res, a)
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
    """Grade every submission; returns the process exit code (0 when every submission was processed)."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    limits = limits or Limits()
    if not submissions.is_dir():
        log(f"error: SUBMISSIONS must be a folder, got {submissions}")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    assignments = {aid: load_assignment(aid) for aid in sorted(p.name for p in (REPO / "solutions").iterdir()
                                                               if (p / f"{p.name}.ipynb").exists())}
    pairs = discover(submissions, assignments, only, only_student)
    todo = [(s, a) for s, a in pairs if force or load_result(result_path(out, s, a)) is None]
    workers = max(1, workers or os.cpu_count() or 1)
    hide = [REPO / "solutions", REPO / ".git", submissions, out]
    log(f"grading {len(todo)} notebooks ({len(pairs) - len(todo)} already graded) with {workers} workers")
    pool: queue.Queue[Zygote] = queue.Queue()
    zygotes = [Zygote() for _ in range(min(workers, max(1, len(todo))))]
    for z in zygotes:
        pool.put(z)
    layers_reported = threading.Event()

    def task(pair: tuple[str, str]) -> None:
        student, aid = pair
        z = pool.get()
        try:
            try:
                res = grade_one(student, aid, submissions, assignments[aid], z, limits, hide)
            except Exception as err:  # noqa: BLE001 - the grader itself failed on this one: record, go on
                z.close()
                res = {"version": RESULT_VERSION, "student_id": student, "assignment_id": aid, "status": "error",
                       "detail": f"grader error: {type(err).__name__}: {err}", "forbidden": {}, "layers": {},
                       "dropped_cells": [],
                       "tests": {t.grade_id: {"passed": False, "points": 0.0, "max_points": t.points,
                                              "status": "error", "message": "internal grading error"}
                                 for t in assignments[aid].tests}}
            if res.get("layers") and not layers_reported.is_set():
                layers_reported.set()
                from autograder.sandbox import describe_layers
                for line in describe_layers(res["layers"]):
                    tqdm.write(line) if progress else log(line)
            _write_json_atomic(result_path(out, student, aid), res)
        finally:
            pool.put(z)

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(workers) as ex, tqdm(total=len(todo), desc="grading", unit="nb",
                                                     disable=not progress) as bar:
            for _ in ex.map(lambda p: (task(p), bar.update(1)), todo):
                pass
    finally:
        for z in zygotes:
            z.close()
    csv_path = write_outputs(out, pairs, assignments)
    elapsed = time.monotonic() - start
    rate = len(todo) / elapsed * 60 if elapsed > 0 and todo else 0.0
    log(f"wrote {csv_path} and feedback for {len(pairs)} notebooks ({rate:.1f} notebooks/min)")
    return 0
