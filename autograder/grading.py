"""Grade a class: every submission in a fresh sandboxed kernel, in parallel, resumable, nothing lost.

    python -m autograder grade SUBMISSIONS --out OUT [--workers N] [--force]

``SUBMISSIONS/<student_id>/<assignment_id>/<assignment_id>.ipynb`` (nbgrader's
``submitted/`` layout). Results are stored per notebook under
``OUT/.results/`` as soon as they are known, so an interrupted run resumes
where it stopped; ``OUT/grades.csv`` and ``OUT/feedback/`` are written from them.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import queue
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from autograder import feedback
from autograder.engine import grade_notebook
from autograder.kernels import InfrastructureError, Zygote
from autograder.limits import Limits
from autograder.notebooks import Assignment, load_assignment
from autograder.policy_process import PolicyProcess
from autograder.results import NotebookResult, refused
from autograder.sandbox import FULL, describe_layers, weakening_variables
from autograder.served import HelperProcess
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


def read_submission(student: str, aid: str, submissions: Path, assignment: Assignment,
                    limits: Limits) -> NotebookResult | dict:
    """The submitted notebook's JSON, or the result of refusing the file (nothing in it is run)."""
    folder = submissions / student / aid
    status, nb = inspect_submission(folder / f"{aid}.ipynb", submissions, f"{aid}.ipynb", limits)
    if (submissions / student).is_symlink() or folder.is_symlink():
        status, nb = "invalid-notebook", None  # links are never followed
    elif status == "missing" and folder.is_dir() and any(p.suffix == ".ipynb" for p in folder.iterdir()):
        status = "wrong-name"
    if status is not None:
        return refused(student, aid, status, [(t.grade_id, t.points) for t in assignment.tests])
    return nb


class Worker:
    """What one grading thread holds: a kernel factory, a source-rules process and a course-helper process.

    A worker serves one notebook at a time: its processes are not safe to share between threads.
    """

    def __init__(self, privileges: str = FULL) -> None:
        self.zygote = Zygote(privileges)
        self.policy = PolicyProcess()
        self.helpers = HelperProcess()

    def grade(self, nb: dict, student: str, assignment: Assignment, limits: Limits) -> NotebookResult:
        return grade_notebook(nb, student, assignment, limits, self.zygote, self.policy, self.helpers)

    def close(self) -> None:
        self.zygote.close()
        self.policy.close()
        self.helpers.close()


def canary(assignment: Assignment, worker: Worker, limits: Limits) -> tuple[NotebookResult, str | None]:
    """Grade the solution (must earn full marks) and the blank release (must earn 0): grading works here, or why not."""
    solution = json.loads((REPO / "solutions" / assignment.aid / f"{assignment.aid}.ipynb").read_text("utf-8"))
    release = json.loads((REPO / "chapters" / assignment.aid / f"{assignment.aid}.ipynb").read_text("utf-8"))
    full = worker.grade(solution, "canary", assignment, limits)
    if full.grader_errors:
        return full, f"a hidden check of {assignment.aid} fails on the solution: {full.grader_errors[0]}"
    if full.points != assignment.max_points:
        failed = [f"{t.grade_id}: {t.message}" for t in full.tests if not t.passed][:3]
        return full, (f"the solution of {assignment.aid} earns {full.points:g} of {assignment.max_points:g} points "
                      f"in the sandboxed kernel (status {full.status}{': ' + full.detail if full.detail else ''}; "
                      + "; ".join(failed) + ")")
    blank = worker.grade(release, "canary", assignment, limits)
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


def write_outputs(out: Path, pairs: list[tuple[str, str]],
                  assignments: dict[str, Assignment]) -> tuple[Path, list[NotebookResult], list[str]]:
    """grades.csv (sorted, one row per student × assignment × test cell) and the feedback pages.

    Returns the path of grades.csv, the results read, and the problems: each notebook is written on its own, so
    one whose result cannot be read or whose page cannot be written is listed there, and every other notebook
    still gets its rows and its page.
    """
    rows, results, problems = [], [], []
    for student, aid in pairs:
        res = load_result(result_path(out, student, aid))
        if res is None:
            problems.append(f"{student}/{aid}: its stored result cannot be read (run again to grade it again)")
            continue
        results.append(res)
        try:
            feedback.write(out / "feedback" / student / aid / f"{aid}.html", res, assignments[aid])
        except (OSError, ValueError) as err:
            problems.append(f"{student}/{aid}: its feedback page cannot be written ({err})")
        rows += [[student, aid, t.grade_id, _fmt(t.points), _fmt(t.max_points), t.status] for t in res.tests]
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    csv_path = out / "grades.csv"
    tmp = csv_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_HEADER)
        w.writerows(rows)
    os.replace(tmp, csv_path)
    return csv_path, results, problems


def _fmt(x: float) -> str:
    return f"{float(x):g}"


class Progress:
    """The progress bar and the closing figures: notebooks done of total, throughput, notebooks per worker."""

    def __init__(self, total: int, show: bool) -> None:
        self.total, self.done = total, 0
        self.per_worker: Counter[str] = Counter()
        self.start = time.monotonic()
        self.bar = tqdm(total=total, desc="grading", unit="nb", disable=not show)
        self.lock = threading.Lock()

    def advance(self, worker: str) -> None:
        with self.lock:
            self.done += 1
            self.per_worker[worker] += 1
            self.bar.update(1)
            self.bar.set_postfix_str(f"{self.rate():.1f}/min, " + ", ".join(
                f"{w}: {n}" for w, n in sorted(self.per_worker.items())), refresh=False)

    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return self.done / elapsed * 60 if elapsed > 0 else 0.0

    def summary(self) -> str:
        self.bar.close()
        per = ", ".join(f"{w} {n}" for w, n in sorted(self.per_worker.items())) or "none"
        return (f"{self.done}/{self.total} notebooks graded in {time.monotonic() - self.start:.1f} s, "
                f"{self.rate():.1f} notebooks/min; per worker: {per}")


#: exit codes of ``grade``
EXIT_OK, EXIT_USAGE, EXIT_MACHINERY, EXIT_GRADER_FAULTS = 0, 2, 3, 4


def grade(submissions: Path, out: Path, workers: int | None = None, force: bool = False,
          only: str | None = None, only_student: str | None = None, limits: Limits | None = None,
          progress: bool = True, log=print, gradebook: str | None = None, scheduler: str | None = None,
          privileges: str = FULL) -> int:
    """Grade every submission; returns the exit code (``EXIT_*``).

    0: every notebook was graded and written. 2: the command cannot start (a missing folder, an environment
    variable that would weaken the sandbox). 3: grading cannot work (a canary failed, kernels keep failing):
    no grades.csv. 4: grades.csv was written, but some notebooks hold a fault of the grader (a hidden check's
    own code failed) or could not be written; they are listed, and their rows say ``error``.

    Without ``scheduler``: a pool of local workers. With it: the Dask cluster at that address
    (:mod:`autograder.cluster`). Either way results are written per notebook as they arrive.
    ``privileges``: how much of its privilege the sandbox uses (:data:`autograder.sandbox.PRIVILEGES`; the
    tests ask for less than ``full``).
    """
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    limits = limits or Limits()
    weakening = weakening_variables()
    if weakening:
        log(f"error: {', '.join(weakening)} is set in the environment. Grading refuses to run with a variable that "
            "once weakened the sandbox: unset it (the tests choose the sandbox's privileges with "
            "--sandbox-privileges instead).")
        return EXIT_USAGE
    if not submissions.is_dir():
        log(f"error: SUBMISSIONS must be a folder, got {submissions}")
        return EXIT_USAGE
    assignments = {aid: load_assignment(aid) for aid in sorted(p.name for p in (REPO / "solutions").iterdir()
                                                               if (p / f"{p.name}.ipynb").exists())}
    pairs = discover(submissions, assignments, only, only_student)
    todo = [(s, a) for s, a in pairs if force or load_result(result_path(out, s, a)) is None]
    aids = sorted({a for _, a in todo})
    if scheduler:
        failures = _run_on_cluster(todo, aids, submissions, out, assignments, limits, progress, log, scheduler,
                                   len(pairs))
    else:
        n_workers = max(1, min(workers or os.cpu_count() or 1, max(1, len(todo))))
        failures = _run_locally(todo, aids, submissions, out, assignments, limits, progress, log, n_workers,
                                len(pairs), privileges)
    if failures is None:
        return EXIT_MACHINERY
    if failures:
        log(f"error: {len(failures)} notebook(s) could not be graded for reasons of the grading machinery, "
            f"not of the submissions; they were not graded and no grades.csv was written. First: {failures[0]}")
        return EXIT_MACHINERY
    csv_path, results, problems = write_outputs(out, pairs, assignments)
    if gradebook:
        from autograder.nbgrader_bridge import write_gradebook

        n = write_gradebook(gradebook, results)
        log(f"wrote {n} notebooks' scores into the gradebook {gradebook}")
    log(f"wrote {csv_path} and feedback for {len(pairs) - len(problems)} of {len(pairs)} notebooks")
    faults = [f"{r.student_id}/{r.assignment_id}: {e}" for r in results for e in r.grader_errors]
    if faults or problems:
        log(f"error: {len(faults)} hidden check(s) failed in the grader's own code and {len(problems)} notebook(s) "
            "could not be written. These are faults of the grader, not of the students: their rows say error; "
            "fix the cause and grade them again with --force --student ID.")
        for line in (faults + problems)[:50]:
            log(f"  {line}")
        return EXIT_GRADER_FAULTS
    return EXIT_OK


def _run_locally(todo, aids, submissions, out, assignments, limits, progress, log, workers, n_pairs,
                 privileges=FULL):
    """Grade ``todo`` with local workers, each used by one thread at a time; the machinery's failures (None: a
    canary failed)."""
    pool: queue.Queue[Worker] = queue.Queue()
    team = [Worker(privileges) for _ in range(workers)]
    for w in team:
        pool.put(w)
    failures: list[str] = []
    try:
        if todo and not _canaries(aids, assignments, pool, len(team), limits, log):
            return None
        out.mkdir(parents=True, exist_ok=True)
        log(f"grading {len(todo)} notebooks ({n_pairs - len(todo)} already graded) with {workers} workers")
        bar = Progress(len(todo), progress)
        names = {id(w): f"worker {i + 1}" for i, w in enumerate(team)}

        def task(pair: tuple[str, str]) -> None:
            student, aid = pair
            with _borrowed(pool) as w:
                for attempt in range(3):
                    try:
                        res = read_submission(student, aid, submissions, assignments[aid], limits)
                        if isinstance(res, dict):
                            res = w.grade(res, student, assignments[aid], limits)
                        break
                    except InfrastructureError as err:
                        w.close()
                        if attempt == 2:
                            failures.append(f"{student}/{aid}: {err}")
                            return
                try:
                    _write_json_atomic(result_path(out, student, aid), res.to_json())
                except (OSError, ValueError) as err:
                    failures.append(f"{student}/{aid}: its result cannot be written ({err})")
                    return
                bar.advance(names[id(w)])

        with ThreadPoolExecutor(workers) as ex:
            for _ in ex.map(task, todo):
                if failures:
                    break
        log(bar.summary())
    finally:
        for w in team:
            w.close()
    return failures


def _run_on_cluster(todo, aids, submissions, out, assignments, limits, progress, log, scheduler, n_pairs):
    """Grade ``todo`` on the Dask cluster at ``scheduler``; the machinery's failures (None: a canary failed)."""
    from dataclasses import asdict

    from autograder.cluster import Cluster

    try:
        cluster = Cluster(scheduler)
    except OSError as err:
        log(f"error: cannot reach the Dask scheduler at {scheduler}: {err}. No grade was written.")
        return None
    try:
        if todo:
            layers, problem = cluster.canaries(aids, asdict(limits))
            for line in describe_layers(layers):
                log(line)
            if problem:
                log(f"error: grading cannot work on this cluster: {problem}. No grade was written.")
                return None
        out.mkdir(parents=True, exist_ok=True)
        log(f"grading {len(todo)} notebooks ({n_pairs - len(todo)} already graded) on {scheduler} with "
            f"{len(cluster.workers)} workers")
        bar = Progress(len(todo), progress)
        jobs = []
        for student, aid in todo:  # files are read and refused here, on the client: workers get JSON
            res = read_submission(student, aid, submissions, assignments[aid], limits)
            if isinstance(res, dict):
                jobs.append((student, aid, res))
            else:
                _write_json_atomic(result_path(out, student, aid), res.to_json())
                bar.advance("client")

        def on_result(student: str, aid: str, text: str, worker: str) -> None:
            if NotebookResult.from_json(text) is None:
                raise ValueError(f"a worker returned an unreadable result for {student}/{aid}")
            _write_json_atomic(result_path(out, student, aid), text)
            bar.advance(worker)

        failures = cluster.grade(jobs, asdict(limits), on_result)
        log(bar.summary())
    finally:
        cluster.close()
    return failures


def _canaries(aids: list[str], assignments: dict[str, Assignment], pool: "queue.Queue[Worker]", workers: int,
              limits: Limits, log) -> bool:
    """Run the canary of every assignment about to be graded, in parallel, each on a worker taken from ``pool``
    (so no worker serves two threads at once); print the sandbox layers once."""
    def run(aid: str):
        with _borrowed(pool) as worker:
            return _canary_safe(assignments[aid], worker, limits)

    with ThreadPoolExecutor(workers) as ex:
        outcomes = list(ex.map(run, aids))
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


@contextlib.contextmanager
def _borrowed(pool: "queue.Queue[Worker]") -> Iterator[Worker]:
    """A worker of ``pool``, for this thread alone until the block ends."""
    worker = pool.get()
    try:
        yield worker
    finally:
        pool.put(worker)


def _canary_safe(assignment: Assignment, worker: Worker, limits: Limits):
    try:
        return canary(assignment, worker, limits)
    except InfrastructureError as err:
        return None, str(err)
