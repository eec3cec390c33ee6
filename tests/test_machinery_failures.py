"""A failure of the grader's own machinery is never a grade: it raises InfrastructureError (retry, then exit 3).

What a student's code causes stays the student's: code too deep for the rules to analyse refuses that
notebook's answers, a malformed notebook is ``invalid-notebook``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autograder import policy_process
from autograder.kernels import InfrastructureError
from autograder.notebooks import load_assignment, merge
from autograder.policy_process import COMMAND, UNANALYSABLE, PolicyProcess
from autograder.submissions import inspect_submission
from tests.notebook_utils import REPO

SOLUTION = json.loads((REPO / "solutions" / "01_rnn" / "01_rnn.ipynb").read_text())


def _cells(answers: dict[str, str] | None = None):
    """The merged cells of 01_rnn's solution, with some answers replaced."""
    nb = json.loads(json.dumps(SOLUTION))
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in (answers or {}):
            cell["source"] = answers[gid]
    return merge(load_assignment("01_rnn"), nb)


def _child(script: str) -> list[str]:
    return [sys.executable, "-c", script]


@pytest.fixture
def policies():
    made = []

    def make(command=COMMAND) -> PolicyProcess:
        made.append(PolicyProcess(command))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_a_rules_child_that_crashes_every_time_is_an_infrastructure_error(policies):
    policy = policies(_child("import sys\nsys.stdin.readline()\n"
                             "sys.stderr.write('Traceback ...\\nImportError: the rules broke here\\n')\nsys.exit(7)"))
    with pytest.raises(InfrastructureError) as err:
        policy.check("01_rnn", _cells())
    message = str(err.value)
    assert "failed twice" in message and "exited without answering (exit code 7)" in message, message
    assert "ImportError: the rules broke here" in message, message


def test_a_rules_child_killed_by_a_signal_is_named(policies):
    policy = policies(_child("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)"))
    with pytest.raises(InfrastructureError, match="killed by SIGSEGV"):
        policy.check("01_rnn", _cells())


def test_a_reply_that_is_not_a_report_is_an_infrastructure_error(policies):
    policy = policies(_child("import sys\nfor line in sys.stdin:\n    print('hello', flush=True)"))
    with pytest.raises(InfrastructureError, match="answered something that is not a report: 'hello"):
        policy.check("01_rnn", _cells())


def test_a_silent_rules_child_is_an_infrastructure_error(policies, monkeypatch):
    monkeypatch.setattr(policy_process, "TIMEOUT", 0.5)
    policy = policies(_child("import sys, time\nsys.stderr.write('thinking\\n')\nsys.stderr.flush()\ntime.sleep(30)"))
    with pytest.raises(InfrastructureError, match=r"did not answer within 0.5 s; its stderr ends with: thinking"):
        policy.check("01_rnn", _cells())


def test_a_crash_on_the_first_try_only_is_retried_and_graded(policies, tmp_path):
    marker = tmp_path / "crashed-once"
    policy = policies(_child(
        "import os, runpy, sys\n"
        f"if not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    os._exit(1)\n"
        "runpy.run_module('autograder.policy_process', run_name='__main__')"))
    report = policy.check("01_rnn", _cells({"softmax": "def softmax(z):\n    return eval('z')\n"}))
    assert marker.exists()
    assert set(report.forbidden) == {"softmax"} and "'eval' is not allowed" in report.forbidden["softmax"]
    assert policy.check("01_rnn", _cells()).forbidden == {}


@pytest.mark.parametrize("expression", ["-" * 5000 + "1", "+".join(["1"] * 20000)], ids=["unary", "sum"])
def test_code_too_deep_to_analyse_refuses_that_notebooks_answers(policies, expression):
    policy = policies()
    cells = _cells({"softmax": f"x = {expression}\n"})
    report = policy.check("01_rnn", cells)
    answers = {c.grade_id for c in cells if c.kind == "answer"}
    assert report.forbidden == {gid: UNANALYSABLE for gid in answers}
    assert sorted(report.blocked) == [i for i, c in enumerate(cells) if c.kind in ("answer", "student")]
    assert policy.check("01_rnn", _cells()).forbidden == {}  # the next notebook is analysed as usual


def _submission(tmp_path: Path, nb: dict) -> tuple[Path, Path]:
    root = tmp_path / "subs"
    path = root / "s" / "01_rnn" / "01_rnn.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))
    return path, root


def test_a_schema_check_that_breaks_is_an_infrastructure_error(tmp_path, monkeypatch):
    import nbformat

    def broken(*args, **kwargs):
        raise RuntimeError("the validator's schema file is missing")

    path, root = _submission(tmp_path, SOLUTION)
    assert inspect_submission(path, root, "01_rnn.ipynb")[0] is None
    monkeypatch.setattr(nbformat, "validate", broken)
    with pytest.raises(InfrastructureError, match="RuntimeError: the validator's schema file is missing"):
        inspect_submission(path, root, "01_rnn.ipynb")


@pytest.mark.parametrize("change", [{"nbformat_minor": None}, {"nbformat_minor": "5"}, {"cell_id": ["a"]},
                                    {"cell_id": {"a": 1}}, {"outputs": "none"}])
def test_malformed_notebooks_are_invalid_not_infrastructure(tmp_path, change):
    nb = json.loads(json.dumps(SOLUTION))
    if "nbformat_minor" in change:
        nb["nbformat_minor"] = change["nbformat_minor"]
    elif "cell_id" in change:
        nb["cells"][0]["id"] = change["cell_id"]
    else:
        next(c for c in nb["cells"] if c["cell_type"] == "code")["outputs"] = change["outputs"]
    path, root = _submission(tmp_path, nb)
    assert inspect_submission(path, root, "01_rnn.ipynb")[0] == "invalid-notebook"
