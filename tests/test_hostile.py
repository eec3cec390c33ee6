"""A class of hostile and broken submissions graded end to end together with honest ones.

The class comes from tests/hostile/corpus.py. Each hostile notebook must earn
no point it did not earn, every honest student's grade must stay what it is,
the run must finish with exit code 0, every submission must get its rows with
a status that says what happened, and no process may be left behind.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from autograder.notebooks import load_assignment
from tests.grading_utils import REPO, read_grades, total
from tests.hostile.corpus import ANSWER_ATTACKS, build
from tests.test_sandbox import _processes_of_user

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("hostile") / "submissions"
    subs.mkdir()
    expect = build(subs)
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--workers", "2",
                           "--cell-timeout", "6", "--notebook-timeout", "60", "--no-progress",
                           "--memory-bytes", str(2**30)],  # a memory bomb then fails at once, even on a busy machine
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    return proc, read_grades(out), out, expect


def test_the_run_finishes_and_reports_its_sandbox(graded):
    proc, _, _, _ = graded
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for layer in ("private channel", "process containment", "filesystem allowlist", "network namespace",
                  "resource limits", "unprivileged user",
                  "no_new_privs", "system-call filter"):
        assert re.search(rf"sandbox: {layer}: (on|UNAVAILABLE)", proc.stdout), layer


def test_every_submission_gets_every_row(graded):
    _, g, _, expect = graded
    for student, e in expect.items():
        tests = {t.grade_id for t in load_assignment(e.aid).tests}
        assert {k[2] for k in g if k[:2] == (student, e.aid)} == tests, student


@pytest.mark.parametrize("student", ["alice", "bob", "carol", "lstmhonest", "metapoints", "editlocked", "metadata",
                                     "deletetests", "magics"])
def test_exact_totals(graded, student):
    _, g, _, expect = graded
    e = expect[student]
    assert total(g, student, e.aid) == e.exact_total
    for grade_id, status in e.status.items():
        assert g[(student, e.aid, grade_id)][1] == status


@pytest.mark.parametrize("student", sorted(ANSWER_ATTACKS) + ["redefine", "redefine2", "addedpatch", "lstmcell",
                                                              "lstmkernel", "patchtorch", "torchos", "grukernel",
                                                              "grucount", "inplace"])
def test_attacks_earn_nothing_for_what_they_attack(graded, student):
    _, g, _, expect = graded
    e = expect[student]
    for grade_id in e.zero:
        assert g[(student, e.aid, grade_id)][0] == 0.0, (student, grade_id)
    for grade_id, status in e.status.items():
        assert g[(student, e.aid, grade_id)][1] == status, (student, grade_id, g[(student, e.aid, grade_id)])
    assert total(g, student, e.aid) <= e.max_total


def test_forbidden_code_keeps_the_other_exercises(graded):
    _, g, _, _ = graded
    for student in ("forkbomb", "osexit", "sysexit", "network", "reference"):
        # rnn_forward calls rnn_step, so only softmax and cross_entropy are independent of the attack
        assert g[(student, "01_rnn", "test_softmax")] == (2.0, "ok")
        assert g[(student, "01_rnn", "test_cross_entropy")] == (2.0, "ok")
    # the attacked exercise earns nothing, the chapter's other exercises everything
    assert total(g, "lstmcell", "04_lstm") == load_assignment("04_lstm").max_points - 3.0
    assert total(g, "grucount", "05_gru") == load_assignment("05_gru").max_points - 2.0


def test_feedback_names_the_forbidden_construct(graded):
    _, _, out, _ = graded
    for student, aid, construct in [("lstmcell", "04_lstm", "LSTMCell"),
                                    ("osexit", "01_rnn", "import of &#x27;os&#x27;"),
                                    ("patchnp", "01_rnn", "np.allclose"), ("shell", "01_rnn", "shell command"),
                                    ("obfuscated", "01_rnn", "__import__")]:
        page = (out / "feedback" / student / aid / f"{aid}.html").read_text()
        assert construct in page or construct.replace("&#x27;", "'") in page, (student, construct)


def test_a_helper_that_would_run_too_long_costs_its_notebook_only(graded):
    _, g, out, expect = graded
    rows = [v for k, v in g.items() if k[:2] == ("helperbomb", "02_bptt")]
    assert rows and all(v == (0.0, "timeout") for v in rows), rows
    detail = json.loads((out / ".results" / "helperbomb" / "02_bptt.json").read_text())["detail"]
    assert detail == "the answer cell rnn_step_backward ran past its time limit of 6 s", detail


def test_unwritable_text_reaches_the_feedback_as_text(graded):
    _, g, out, _ = graded
    assert g[("surrogate", "01_rnn", "test_rnn_step")] == (0.0, "ok")
    page = (out / "feedback" / "surrogate" / "01_rnn" / "01_rnn.html").read_bytes().decode("utf-8")
    assert "ValueError: \ufffd and \ufffd" in page


def test_a_variable_that_once_weakened_the_sandbox_stops_grade(tmp_path):
    env = dict(os.environ, RNNCOURSE_SANDBOX_AS_USER="0")
    (tmp_path / "subs").mkdir()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "subs"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 2 and "RNNCOURSE_SANDBOX_AS_USER is set" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("student", ["badjson", "nbformat3", "binary", "utf16", "manycells", "wrongname", "huge", "bigcell",
                                     "symlinkfile", "linkfolder", "dotdot"])
def test_malformed_files_get_a_row_with_their_status(graded, student):
    _, g, _, expect = graded
    rows = [v for k, v in g.items() if k[:2] == (student, "01_rnn")]
    assert len(rows) == 4 and all(v == (0.0, expect[student].all_status) for v in rows), rows


def test_no_process_is_left_behind(graded):
    _, _, out, _ = graded
    uids = set()
    for path in (out / ".results").rglob("*.json"):
        detail = json.loads(path.read_text()).get("layers", {}).get("unprivileged user", {})
        found = re.search(r"uid = gid = (\d+)", detail.get("detail", "") if isinstance(detail, dict) else "")
        if found:
            uids.add(int(found.group(1)))
    assert all(_processes_of_user(uid) == [] for uid in uids)
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(out) not in ps


def test_large_inputs_give_small_results(graded):
    _, _, out, _ = graded
    for path in (out / ".results").rglob("*.json"):
        assert path.stat().st_size < 200_000, path
    for path in (out / "feedback").rglob("*.html"):
        assert path.stat().st_size < 400_000, path
