"""The one place that decides points: ``grade_notebook`` and the verdict rule it applies to each test cell.

One notebook's path:

1. the submitted JSON is merged with the chapter's source
   (:func:`autograder.notebooks.merge`): locked and test cells always come
   from ``solutions/``, answers and added cells from the student;
2. the answers and added cells go through the course's source rules in a
   limited child process (:mod:`autograder.policy_process`); a cell that
   breaks one never runs;
3. a fresh sealed kernel is forked (:mod:`autograder.kernels`,
   :mod:`autograder.sandbox`), runs the chapter's prelude, then the student's
   cells in order — and nothing else: no course cell, no test cell;
4. at each test cell, its hidden block (from ``solutions/``) runs *here*, in
   the grader, with every name it does not import bound to a proxy of the
   student's object in the kernel (:mod:`autograder.remote`); the check's
   verdict is the test cell's verdict (``verdict``).

The student's code can make its own functions wrong, slow or dead. It cannot
make a check pass: the checks, their references and the comparison all run in
a process that never executes student code, and only plain data crosses.
"""
from __future__ import annotations

import time
from typing import Any

from autograder.checks import CheckFailure, cases_for, student_text
from autograder.kernels import InfrastructureError, KernelGone, Zygote, describe_status
from autograder.limits import Limits
from autograder.notebooks import Assignment, MergedCell, hidden_part, merge
from autograder.policy_process import PolicyProcess
from autograder.remote import Deadline, Session
from autograder.results import NotebookResult, TestResult
from autograder.served import HelperProcess, served_helpers
from autograder.source_rules import prelude

START_TIMEOUT = 120.0  # seconds for a kernel to start and run the prelude
MAX_LISTED = 20  # added cells that were not run, listed one by one in a result


class _Names(dict):
    """The namespace a hidden block runs in: what it imports is real, every other name is the student's."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def __missing__(self, name: str) -> Any:
        return self.session.proxy(name)


def verdict(test: Any, exercise_forbidden: str | None, error: BaseException | None, stderr: str,
            limits: Limits) -> TestResult:
    """The rule that makes a test cell pass: its exercise ran, its check raised nothing, nothing on stderr."""
    result = TestResult(test.grade_id, test.points)
    if exercise_forbidden is not None:
        result.status, result.message = "forbidden", f"not graded: {exercise_forbidden}"
    elif isinstance(error, GraderFault):
        result.status, result.message = "error", GRADER_FAULT_MESSAGE
    elif error is not None:
        result.message = _message(error)
    elif stderr.strip():
        result.message = "the code wrote to stderr during the test (a warning counts as a failure): " + \
            student_text(stderr)
    else:
        result.passed, result.points = True, test.points
    result.message = result.message[:limits.max_message_chars]
    return result


#: what a student reads where the grader's own check code failed (the instructor gets the cause)
GRADER_FAULT_MESSAGE = ("this test could not be graded because of a fault in the grader, not in your code; "
                        "your instructor has been told")


class GraderFault(Exception):
    """A hidden check's own code raised (a bug of the check, not the student's answer): never a grade."""

    def __init__(self, grade_id: str, error: BaseException) -> None:
        super().__init__(f"{grade_id}: the check raised {type(error).__name__}: {str(error)[:300]}")


def _message(error: BaseException) -> str:
    if isinstance(error, CheckFailure):
        return str(error)
    if isinstance(error, AssertionError):
        return f"AssertionError: {error}".rstrip(": ")
    return f"{getattr(error, 'remote_name', type(error).__name__)}: {student_text(error)}".rstrip(": ")


def _students(error: BaseException) -> bool:
    """Whether an exception out of a hidden block is the student's outcome: a check's verdict, an assertion,
    or an exception the student's own code raised in the kernel. Anything else is the check's own fault."""
    return isinstance(error, AssertionError) or hasattr(error, "remote_name")  # CheckFailure is an AssertionError


def run_check(session: Session, test: Any, source: str) -> BaseException | None:
    """Run one test cell's hidden block here against the student's objects; the exception it raised, if any
    (a :class:`GraderFault` where the check's own code failed)."""
    names = _Names(session)
    names["__builtins__"] = __builtins__
    try:
        exec(compile(source, f"<{test.grade_id}>", "exec"), names, names)  # noqa: S102 - the course's own code
    except (KernelGone, Deadline):
        raise
    except Exception as err:  # noqa: BLE001 - a failing check is the test's outcome
        return err if _students(err) else GraderFault(test.grade_id, err)
    return None


def _step_name(cell: MergedCell, added: int) -> str:
    if cell.kind == "answer":
        return f"the answer cell {cell.grade_id}"
    if cell.kind == "test":
        return f"the test {cell.grade_id}"
    return f"the code cell you added (number {added} of those)"


def grade_notebook(nb: dict, student: str, assignment: Assignment, limits: Limits, zygote: Zygote,
                   policy: PolicyProcess, helpers: HelperProcess | None = None) -> NotebookResult:
    """Grade one parsed notebook. Raises InfrastructureError when grading itself cannot work.

    ``helpers``: the worker's process for the course helpers an answer may call (one of its own if None).
    """
    own_helpers = helpers is None
    helpers = helpers if helpers is not None else HelperProcess()
    try:
        return _grade(nb, student, assignment, limits, zygote, policy, helpers)
    finally:
        if own_helpers:
            helpers.close()


def _grade(nb: dict, student: str, assignment: Assignment, limits: Limits, zygote: Zygote, policy: PolicyProcess,
           helpers: HelperProcess) -> NotebookResult:
    aid = assignment.aid
    result = NotebookResult(student, aid)
    cells = merge(assignment, nb)
    report = policy.check(aid, cells)
    cap = limits.max_message_chars
    result.forbidden = {k: v[:cap] for k, v in report.forbidden.items()}
    result.dropped_cells = [m[:cap] for m in report.dropped[:MAX_LISTED]]
    if len(report.dropped) > MAX_LISTED:
        result.dropped_cells.append(f"... and {len(report.dropped) - MAX_LISTED} more added cells that were not run")
    blocked = set(report.blocked)
    tests = {t.grade_id: t for t in assignment.tests}
    started = time.monotonic()
    kernel = _start_kernel(zygote, limits, aid)
    session = Session(kernel, started + START_TIMEOUT)
    step, added = "the start of the kernel", 0
    notebook_end = float("inf")
    try:
        try:
            ready = session.wait_ready()
        except (KernelGone, Deadline) as err:
            raise InfrastructureError(f"a grading kernel did not start ({err or type(err).__name__}; "
                                      f"it ended with {describe_status(kernel.kill())})") from None
        result.layers = ready["layers"]
        if ready.get("broken"):
            raise InfrastructureError(f"the sandboxed kernel cannot run the course's prelude: {ready['broken']} "
                                      "(can the kernel's user read the interpreter and the virtual environment?)")
        session.bind(served_helpers(aid, helpers, lambda: session.deadline))
        notebook_end = time.monotonic() + limits.notebook_timeout
        for index, cell in enumerate(cells):
            added += cell.kind == "student"
            step = _step_name(cell, added)
            session.deadline = min(time.monotonic() + limits.cell_timeout, notebook_end)
            if cell.kind in ("answer", "student") and index not in blocked:
                outcome = session.exec(cell.source)
                if outcome["error"] and cell.kind == "answer":
                    result.cell_errors[cell.grade_id] = f"{outcome['ename']}: {outcome['evalue']}"[:500]
            elif cell.kind == "test" and cell.grade_id in tests:
                test = tests[cell.grade_id]
                session.stderr.clear()
                with cases_for(student):  # the hidden cases are drawn for this student
                    error = run_check(session, test, hidden_part(cell.source))
                if isinstance(error, GraderFault):
                    result.grader_errors.append(str(error))
                session.release()
                result.tests.append(verdict(test, result.forbidden.get(test.exercise), error,
                                            "".join(session.stderr), limits))
    except Deadline:
        result.status = "timeout"
        if time.monotonic() >= notebook_end:
            result.detail = (f"the notebook ran past its time limit of {limits.notebook_timeout:g} s "
                             f"(in {step})")
        else:
            result.detail = f"{step} ran past its time limit of {limits.cell_timeout:g} s"
    except KernelGone as err:
        status = kernel.kill()
        result.status, result.detail = "error", f"the kernel died in {step} ({err}; {describe_status(status)})"
    finally:
        _close(session, kernel)
    if result.grader_errors and result.status == "ok":
        result.status, result.detail = "error", GRADER_FAULT_MESSAGE
    done = {t.grade_id for t in result.tests}
    for test in assignment.tests:  # test cells the notebook did not reach
        if test.grade_id not in done:
            status = "forbidden" if test.exercise in result.forbidden else (
                result.status if result.status != "ok" else "error")
            message = f"not graded: {result.forbidden[test.exercise]}" if status == "forbidden" else \
                (result.detail or "the test did not run")
            result.tests.append(TestResult(test.grade_id, test.points, status=status,
                                           message=message[:limits.max_message_chars]))
    order = [t.grade_id for t in assignment.tests]
    result.tests.sort(key=lambda t: order.index(t.grade_id))
    return result.cleaned()


def _close(session: Session, kernel) -> None:
    """Tell the kernel to stop, give it a moment, then make sure: it never outlives its notebook."""
    if kernel.finished:
        return
    session.deadline = time.monotonic() + 2.0
    try:
        session.send({"op": "bye"})
        kernel.kill(grace=5.0)
    except (KernelGone, Deadline):
        kernel.kill()


def _start_kernel(zygote: Zygote, limits: Limits, aid: str):
    """A fresh kernel; a failure to start is retried once with a fresh zygote, then reported as infrastructure."""
    for attempt in range(2):
        try:
            return zygote.spawn(limits, prelude(aid))
        except InfrastructureError:
            zygote.close()
            if attempt:
                raise
    raise AssertionError("unreachable")
