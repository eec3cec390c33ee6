"""Stock nbgrader, run as an instructor runs it from the repository root, gives the course's grades.

A copy of the course (its nbgrader_config.py, solutions/, chapters/, the
packages) is a fresh course directory. The class: honest, blank, partly
wrong, re-tagged (test cells tagged to be skipped, metadata edited),
re-flagged (test cells marked as answer cells) and reference-importing
submissions of two chapters. ``nbgrader generate_assignment``
must reproduce chapters/; ``nbgrader autograde`` must give every test cell
the points ``python -m autograder grade`` gives; ``generate_feedback`` must
show messages and no hidden test; and the gradebook that ``grade --gradebook``
writes must export the same totals as nbgrader's own.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_utils import REPO, cell_by_id, load, put, read_grades, with_answer

pytestmark = pytest.mark.slow
AIDS = ("01_rnn", "05_gru")
WRONG = {"01_rnn": ("softmax", "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"),
         "05_gru": ("rnn_param_counts", "def rnn_param_counts(input_size, hidden_size):\n"
                                        "    return {'rnn': 1, 'lstm': 4, 'gru': 3}\n")}
REFERENCE = {"01_rnn": ("rnn_step", "from rnncourse import rnn_step\n"),
             "05_gru": ("gru_step", "from rnncourse.gru import gru_step\n")}


def retagged(nb: dict) -> dict:
    """Every test cell tagged to be skipped and marked as passing; points and ids edited."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("grade") and not nbg.get("solution"):
            cell["metadata"]["tags"] = ["skip-execution", "raises-exception"]
            nbg["points"] = 100
            cell["source"] = "pass"
    return nb


def reflagged(nb: dict) -> dict:
    """Every test cell flagged as an answer cell (nbgrader's ``solution: true, grade: false``)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("grade") and not nbg.get("solution"):
            nbg.update(solution=True, grade=False)
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for name in ("autograder", "rnncourse", "solutions", "chapters"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    shutil.copy(REPO / "nbgrader_config.py", root)
    subs = root / "submitted"
    for aid in AIDS:
        sol, rel = load("solutions", aid), load("chapters", aid)
        put(subs, "honest", aid, sol)
        put(subs, "blank", aid, rel)
        put(subs, "partial", aid, with_answer(sol, *WRONG[aid]))
        put(subs, "retagged", aid, retagged(rel))
        put(subs, "reference", aid, with_answer(sol, *REFERENCE[aid]))
    deleted = copy.deepcopy(load("solutions", "01_rnn"))
    deleted["cells"].remove(cell_by_id(deleted, "test_softmax"))
    put(subs, "deleted", "01_rnn", deleted)
    put(subs, "reflagged", "01_rnn", reflagged(load("chapters", "01_rnn")))
    put(subs, "reflaggedhonest", "01_rnn", reflagged(load("solutions", "01_rnn")))
    return root


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
               PYTHONPATH=str(course))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def stock(course) -> Path:
    for aid in AIDS:
        nbgrader(course, "generate_assignment", aid, "--force")
        nbgrader(course, "autograde", aid, "--create", "--force")
        nbgrader(course, "generate_feedback", aid, "--force")
    nbgrader(course, "export")
    return course


@pytest.fixture(scope="module")
def ours(course, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ours")
    env = dict(os.environ, PYTHONPATH=str(course))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"), "--out", str(out),
                           "--gradebook", f"sqlite:///{out}/gradebook.db"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_generate_assignment_writes_the_committed_release(stock):
    for aid in AIDS:
        assert (stock / "chapters" / aid / f"{aid}.ipynb").read_text() == \
            (REPO / "chapters" / aid / f"{aid}.ipynb").read_text()


def test_stock_autograde_gives_the_points_of_our_grader_per_test_cell(stock, ours):
    from nbgrader.api import Gradebook

    expected = read_grades(ours)
    with Gradebook(f"sqlite:///{stock}/gradebook.db") as gb:
        for (student, aid, gid), (points, status) in expected.items():
            if status == "missing":  # not submitted: no submission in nbgrader's gradebook
                continue
            assert gb.find_grade(gid, aid, aid, student).score == points, (student, aid, gid)


def test_the_course_grades_honest_work_only(ours):
    g = read_grades(ours)
    total = lambda s, a: sum(p for (st, aa, _), (p, _) in g.items() if (st, aa) == (s, a))  # noqa: E731
    for aid in AIDS:
        assert total("honest", aid) > 0 and total("blank", aid) == 0 and total("retagged", aid) == 0
        assert 0 < total("partial", aid) < total("honest", aid)
        assert 0 < total("reference", aid) < total("honest", aid)
        assert all(st == "forbidden" for (s, a, gid), (_, st) in g.items()
                   if (s, a) == ("reference", aid) and gid.startswith(f"test_{REFERENCE[aid][0]}"))
    assert total("deleted", "01_rnn") == total("honest", "01_rnn")
    assert total("reflagged", "01_rnn") == 0 and total("reflaggedhonest", "01_rnn") == total("honest", "01_rnn")


def test_reflagged_test_cells_are_restored_and_graded(stock):
    from nbgrader.api import Gradebook

    from autograder.notebooks import load_assignment

    tests = load_assignment("01_rnn").tests
    with Gradebook(f"sqlite:///{stock}/gradebook.db") as gb:
        for student, full in (("reflagged", False), ("reflaggedhonest", True)):
            graded = json.loads((stock / "autograded" / student / "01_rnn" / "01_rnn.ipynb").read_text())
            for t in tests:
                nbg = cell_by_id(graded, t.grade_id)["metadata"]["nbgrader"]
                assert nbg["grade"] and not nbg["solution"] and nbg["points"] == t.points, (student, nbg)
                assert gb.find_grade(t.grade_id, "01_rnn", "01_rnn", student).score == (t.points if full else 0)


def test_feedback_shows_messages_and_no_hidden_test(stock):
    page = (stock / "feedback" / "blank" / "01_rnn" / "01_rnn.html").read_text()
    assert "rnn_step is not implemented yet" in page
    for secret in ("BEGIN HIDDEN", "check_rnn_step", "autograder", str(REPO)):
        assert secret not in page


def test_our_gradebook_exports_the_same_totals_as_nbgraders(stock, ours):
    def export(db: Path) -> dict:
        target = db.parent / "export.csv"
        nbgrader(stock, "export", f"--CourseDirectory.db_url=sqlite:///{db}", f"--to={target}")
        with open(target) as fh:
            return {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"]))
                    for r in csv.DictReader(fh)}

    assert export(ours / "gradebook.db") == export(stock / "gradebook.db")


def test_students_lab_disables_exactly_the_instructor_tools():
    config = REPO / "tools" / "jupyter-student"
    disabled = json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    bundle = "".join(p.read_text(errors="ignore") for p in
                     (Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader" / "static")
                     .glob("*.js"))
    for plugin in disabled:  # the names must be the installed extension's plugin ids
        assert f'"{plugin}"' in bundle
    assert set(disabled) == {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                             "@jupyter/nbgrader:course-list"}
    server = json.loads((config / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    import importlib

    for module, enabled in server.items():
        importlib.import_module(module)
        assert enabled is False


def test_nbgraders_validate_gives_the_verdict_of_ours(course):
    env = dict(os.environ, PYTHONPATH=str(course))
    for student in ("honest", "blank", "partial"):
        path = course / "submitted" / student / "01_rnn" / "01_rnn.ipynb"
        stock = nbgrader(course, "validate", str(path)).stdout
        ours = subprocess.run([sys.executable, "-m", "autograder", "validate", str(path)], cwd=course, env=env,
                              capture_output=True, text=True, timeout=600).stdout
        failed_ours = {line.split()[1] for line in ours.splitlines() if line.startswith("FAILED")}
        if not failed_ours:
            assert "Success! Your notebook passes all the tests." in stock
        else:
            assert "Success!" not in stock
            assert stock.count("TestFailed:") == len(failed_ours)
