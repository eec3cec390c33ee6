"""Grading is total and bounded: what one notebook's kernel does cannot hang, exhaust or stop the grader.

Each test grades the 01_rnn solution with one answer cell prefixed by an attack, through the real engine,
with the course's source rules switched off (the attacks reach into the kernel's own objects, which the rules
would refuse): only the channel's deadlines, the decoder's budget and the helper process stand in their way.
"""
from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
import textwrap
import time

import pytest

from autograder.engine import GRADER_FAULT_MESSAGE, grade_notebook
from autograder.kernels import Zygote
from autograder.limits import Limits
from autograder.notebooks import load_assignment
from autograder.remote import Session
from autograder.source_rules import prelude
from tests.grading_utils import REPO, cell_by_id, load, with_answer
from tests.test_verdicts_outside import AllowEverything

pytestmark = pytest.mark.slow

KERNEL = ("import gc, time\n_k = [o for o in gc.get_objects() if type(o).__name__ == 'Kernel' "
          "and type(o).__module__ == 'autograder.kernel'][0]\n")


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


def grade(prefix: str, zygote, exercise: str = "rnn_step", limits: Limits | None = None, aid: str = "01_rnn"):
    sol = load("solutions", aid)
    nb = with_answer(sol, exercise, prefix + "".join(cell_by_id(sol, exercise)["source"]))
    return grade_notebook(nb, "student", load_assignment(aid), limits or Limits(cell_timeout=5, notebook_timeout=60),
                          zygote, AllowEverything())


def test_a_kernel_that_stops_reading_gets_timeout_and_the_grader_goes_on(zygote):
    """The kernel asks for a served helper whose answer is larger than a pipe holds, then never reads it."""
    start = time.monotonic()
    result = grade(KERNEL + "_k.recv = lambda: time.sleep(10**6)\none_hot(np.zeros(20000, dtype=np.int64), 100)\n",
                   zygote)
    assert time.monotonic() - start < 40
    assert result.status == "timeout", (result.status, result.detail)
    assert result.detail == "the answer cell rnn_step ran past its time limit of 5 s"
    assert all(t.points == 0 and t.status == "timeout" for t in result.tests)
    assert grade("", zygote).points == load_assignment("01_rnn").max_points  # the next notebook is graded


def test_a_timeout_names_the_test_that_looped(zygote):
    sol = load("solutions", "01_rnn")
    nb = with_answer(sol, "softmax", "def softmax(z):\n    while True:\n        pass\n")
    result = grade_notebook(nb, "student", load_assignment("01_rnn"), Limits(cell_timeout=3, notebook_timeout=60),
                            zygote, AllowEverything())
    assert result.status == "timeout" and result.detail == "the test test_softmax ran past its time limit of 3 s"


def test_a_served_helper_runs_outside_the_grader_within_the_cell_deadline(zygote):
    """100,000 steps of a 1,000-unit rnn_forward (about 10 s of work): the helper process is killed at the cell's deadline; the grader's own
    CPU time stays small."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = grade("rnn_forward(np.ones((100_000, 1, 1)), np.zeros((1, 1000)), np.ones((1000, 1)), "
                   "np.ones((1000, 1000)), np.zeros(1000))\n", zygote, "rnn_step_backward", Limits(cell_timeout=4, notebook_timeout=60), "02_bptt")
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert result.status == "timeout" and "answer cell rnn_step_backward" in result.detail, result.detail
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) < 3.0


@pytest.mark.parametrize("call,error", [
    ("one_hot(np.arange(3), 3 * 10**7)", "MemoryError"),  # 720 MB of output: more than the helper process has
    ("one_hot(np.zeros(3 * 10**6, dtype=np.int64), 10)", "ValueError"),  # 24 MB of arguments: over what a helper takes
    ("one_hot(np.zeros(10**6, dtype=np.int64), 10)", "ValueError"),  # an 80 MB result: over what grading carries
])
def test_a_served_helper_refuses_or_fails_within_its_limits(zygote, call, error):
    result = grade(f"try:\n    {call}\nexcept Exception as e:\n    _err = type(e).__name__\nelse:\n    _err = None\n"
                   f"assert _err == {error!r}, _err\n", zygote, limits=Limits(cell_timeout=30, notebook_timeout=90))
    assert result.status == "ok" and not result.cell_errors, (result.cell_errors, result.detail)
    assert result.points == load_assignment("01_rnn").max_points


def test_a_forged_frame_cannot_exhaust_the_graders_memory():
    """A kernel answers with 50,000 values that all point at one 32 MiB buffer (1.6 TB if each were built)."""
    script = textwrap.dedent(f"""
        import json, resource
        from autograder.engine import grade_notebook
        from autograder.kernels import Zygote
        from autograder.limits import Limits
        from autograder.notebooks import load_assignment
        from tests.grading_utils import cell_by_id, load, with_answer
        from tests.test_verdicts_outside import AllowEverything
        attack = {KERNEL!r} + '''
        def _forged(header, bufs):
            node = {{"t": "ndarray", "dtype": "uint8", "shape": [32 * 2**20], "buf": 0}}
            return {{"op": "return", "value": {{"t": "list", "items": [node] * 50000}}, "sync": [], "grad": None}}, \\
                [bytes(32 * 2**20)]
        _k.run_call = _forged
        '''
        sol = load("solutions", "01_rnn")
        nb = with_answer(sol, "rnn_step", attack + "".join(cell_by_id(sol, "rnn_step")["source"]))
        z = Zygote()
        r = grade_notebook(nb, "s", load_assignment("01_rnn"), Limits(cell_timeout=20), z, AllowEverything())
        z.close()
        print(json.dumps({{"status": r.status, "detail": r.detail,
                           "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "error" and "MiB" in out["detail"], out
    assert out["maxrss"] < 1.0 * 2**30, out  # the README's bound: 1 GiB for a one-worker grader


def test_the_kernel_sees_none_of_the_graders_environment(monkeypatch):
    monkeypatch.setenv("RNNCOURSE_TEST_TOKEN", "s3cr3t-t0ken")
    monkeypatch.setenv("PGPASSWORD", "hunter2")
    z = Zygote()
    try:
        kernel = z.spawn(Limits(), prelude("01_rnn"))
        session = Session(kernel, time.monotonic() + 60)
        session.wait_ready()
        out = session.exec("import os\nprint(sorted(os.environ.items()))\n")
        kernel.kill()
    finally:
        z.close()
    assert "s3cr3t" not in out["stdout"] and "hunter2" not in out["stdout"], out
    assert "('HOME', '/tmp')" in out["stdout"]


def test_a_students_exception_text_is_quoted_by_its_last_line_only(zygote):
    sol = load("solutions", "01_rnn")
    nb = with_answer(sol, "softmax", "def softmax(z):\n    raise ValueError('inputs ' + repr(z.tolist()) + "
                                     "'\\nshape ' + str(z.shape))\n")
    result = grade_notebook(nb, "s", load_assignment("01_rnn"), Limits(), zygote, AllowEverything())
    message = result.test("test_softmax").message
    assert "ValueError: shape (" in message and "inputs" not in message, message


def test_unwritable_text_from_the_kernel_becomes_writable(zygote):
    sol = load("solutions", "01_rnn")
    nb = with_answer(sol, "softmax", "def softmax(z):\n    raise ValueError('\\ud800 \\x00 broken')\n")
    result = grade_notebook(nb, "s", load_assignment("01_rnn"), Limits(), zygote, AllowEverything())
    message = result.test("test_softmax").message
    assert "\ufffd \ufffd broken" in message and message.encode("utf-8")
    json.dumps(json.loads(result.to_json()), ensure_ascii=False).encode("utf-8")


def with_hidden_prefix(assignment, grade_id: str, code: str):
    """``assignment`` with ``code`` run first in the hidden block of its test cell ``grade_id``."""
    cell = cell_by_id({"cells": assignment.cells}, grade_id)
    cell["source"] = "".join(cell["source"]).replace("### BEGIN HIDDEN TESTS\n", "### BEGIN HIDDEN TESTS\n" + code)
    return assignment


def test_a_fault_of_a_checks_own_code_is_never_a_grade(zygote):
    """A hidden block that raises by itself (here a ZeroDivisionError) marks the notebook error, tells the
    student it is not their fault, and names the cause for the instructor."""
    assignment = with_hidden_prefix(copy.deepcopy(load_assignment("01_rnn")), "test_softmax", "1 / 0\n")
    result = grade_notebook(load("solutions", "01_rnn"), "s", assignment, Limits(), zygote, AllowEverything())
    t = result.test("test_softmax")
    assert (t.points, t.status, t.message) == (0, "error", GRADER_FAULT_MESSAGE)
    assert result.status == "error" and result.grader_errors == [
        "test_softmax: the check raised ZeroDivisionError: division by zero"]
    assert result.test("test_rnn_step").passed and result.test("test_cross_entropy").passed


def test_a_run_with_a_fault_of_the_grader_writes_every_row_lists_it_and_exits_4(tmp_path, monkeypatch):
    """Only for the student 'buggy' does test_softmax's hidden block fail by itself: the class is graded, the
    fault is listed at the end, the run exits 4."""
    import autograder.grading as grading
    from tests.grading_utils import put, read_grades

    real = grading.load_assignment

    def load_with_a_fault(aid):
        if aid != "01_rnn":
            return real(aid)
        return with_hidden_prefix(real(aid), "test_softmax",
                                  "from autograder.checks import _student\nif _student.get() == 'buggy':\n    1 / 0\n")

    monkeypatch.setattr(grading, "load_assignment", load_with_a_fault)
    subs = tmp_path / "subs"
    for student in ("alice", "buggy"):
        put(subs, student, "01_rnn", load("solutions", "01_rnn"))
    lines: list[str] = []
    rc = grading.grade(subs, tmp_path / "out", workers=1, progress=False, log=lines.append)
    assert rc == grading.EXIT_GRADER_FAULTS, lines
    grades = read_grades(tmp_path / "out")
    assert grades[("buggy", "01_rnn", "test_softmax")] == (0.0, "error")
    assert grades[("alice", "01_rnn", "test_softmax")] == (2.0, "ok")
    assert any("buggy/01_rnn: test_softmax: the check raised ZeroDivisionError" in line for line in lines), lines
    page = (tmp_path / "out" / "feedback" / "buggy" / "01_rnn" / "01_rnn.html").read_text()
    assert "not in your code" in page and "ZeroDivisionError" not in page
