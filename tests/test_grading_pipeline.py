"""End to end: `python -m autograder grade` on a small class of real chapter-1 submissions."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import AS_USER, WITHOUT_NAMESPACES
from tests.grading_utils import REPO, add_cell_after, cell_by_id, load, put, read_grades, total, with_answer
from tests.notebook_utils import secret_lines

pytestmark = pytest.mark.slow
AID = "01_rnn"
SOFTMAX_NO_MAX = "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"


def grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600, cwd=REPO)


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("submissions")
    sol, rel = load("solutions", AID), load("chapters", AID)
    put(subs, "alice", AID, sol)                                             # full solution
    put(subs, "bob", AID, rel)                                               # the blank release
    put(subs, "carol", AID, with_answer(sol, "softmax", SOFTMAX_NO_MAX))     # one wrong exercise
    (subs / "dave" / AID).mkdir(parents=True)                                # nothing submitted
    put(subs, "erin", AID, "{ this is not json")                             # invalid file
    deleted = copy.deepcopy(sol)
    deleted["cells"].remove(cell_by_id(deleted, "test_rnn_step"))
    put(subs, "frank", AID, deleted)                                         # deleted a test cell
    tampered = copy.deepcopy(rel)
    cell = cell_by_id(tampered, "test_rnn_forward")
    cell["source"] = "pass"                                                  # edited a locked test
    cell["metadata"]["nbgrader"]["points"] = 100                             # and its points
    put(subs, "gina", AID, tampered)
    return subs


@pytest.fixture(scope="module")
def graded(klass, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    proc = grade(klass, out, "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_scores(graded):
    g = read_grades(graded)
    assert total(g, "alice") == 9.0
    assert all(status == "ok" for (s, _, _), (_, status) in g.items() if s == "alice")
    assert total(g, "bob") == 0 and {st for (s, _, _), (_, st) in g.items() if s == "bob"} == {"ok"}
    assert total(g, "carol") == 7.0 and g[("carol", AID, "test_softmax")][0] == 0
    assert {st for (s, _, _), (_, st) in g.items() if s == "dave"} == {"missing"}
    assert {st for (s, _, _), (_, st) in g.items() if s == "erin"} == {"invalid-notebook"}
    assert total(g, "frank") == 9.0, "a deleted test cell is restored and graded"
    assert g[("gina", AID, "test_rnn_forward")] == (0.0, "ok"), "locked cells and points come from the source"
    assert len(g) == 7 * 4


def test_csv_has_the_contract_header(graded):
    header = (graded / "grades.csv").read_text().splitlines()[0]
    assert header == "student_id,assignment_id,grade_id,points,max_points,status"


def test_feedback_explains_but_hides_hidden_tests(graded):
    page = (graded / "feedback" / "carol" / AID / f"{AID}.html").read_text()
    assert "overflow" in page  # the message tells carol what to fix
    secrets = secret_lines(min_length=12)[AID]
    hidden = [ln for ln in secrets if "check_" in ln or "autograder" in ln]
    assert hidden
    for page in (graded / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "Traceback" not in text
        for line in hidden:
            assert line not in text, f"{page}: {line}"


def test_same_grades_with_one_worker_and_on_resume(klass, graded, tmp_path):
    out = tmp_path / "one"
    assert grade(klass, out, "--workers", "1").returncode == 0
    assert (out / "grades.csv").read_text() == (graded / "grades.csv").read_text()
    # resume: lose two results, run again without --force: only those are graded again
    for student in ("alice", "carol"):
        (out / ".results" / student / f"{AID}.json").unlink()
    proc = grade(klass, out, "--workers", "2")
    assert "grading 2 notebooks (5 already graded)" in proc.stdout
    assert (out / "grades.csv").read_text() == (graded / "grades.csv").read_text()


def test_interrupted_run_resumes_to_the_same_grades(klass, graded, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(klass), "--out", str(out),
                             "--workers", "1"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / ".results").glob("*/*.json")):
        time.sleep(0.2)
    started = _descendants(proc.pid)  # the run's kernel factories, rules processes and kernels
    assert started
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)
    assert not [p for p in started if _alive(p)], "no process of the killed run may be left behind"
    assert grade(klass, out, "--workers", "2").returncode == 0
    assert (out / "grades.csv").read_text() == (graded / "grades.csv").read_text()


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    parents[int(entry.name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [root]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def user_namespaces_allowed() -> bool:
    return subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode == 0


@pytest.mark.parametrize("as_user", [AS_USER, WITHOUT_NAMESPACES])
def test_same_grades_without_root_privileges(klass, graded, tmp_path, as_user):
    """An ordinary user's grader: in user namespaces where the system allows them, else without namespaces."""
    out = tmp_path / "user"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(klass), "--out", str(out),
                           "--sandbox-privileges", as_user], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    namespaces = as_user != WITHOUT_NAMESPACES and user_namespaces_allowed()
    for layer in ("process containment", "filesystem allowlist", "network namespace"):
        assert f"sandbox: {layer}: {'on' if namespaces else 'UNAVAILABLE'}" in proc.stdout, (layer, proc.stdout)
    assert "sandbox: unprivileged user: UNAVAILABLE (needs root" in proc.stdout
    assert "sandbox: resource limits: on" in proc.stdout
    assert (out / "grades.csv").read_text() == (graded / "grades.csv").read_text()


def test_a_grader_that_cannot_work_writes_no_grade_and_exits_non_zero(klass, tmp_path):
    out = tmp_path / "broken"
    proc = grade(klass, out, "--memory-bytes", "1")  # no kernel can allocate anything: the canary fails
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "grading cannot work on this machine" in proc.stdout and "No grade was written" in proc.stdout
    assert not (out / "grades.csv").exists() and not list(out.rglob("*.json"))


def test_validate_and_report(graded, tmp_path):
    sol = tmp_path / f"{AID}.ipynb"
    sol.write_text(json.dumps(load("solutions", AID)))
    ok = subprocess.run([sys.executable, "-m", "autograder", "validate", str(sol)], capture_output=True, text=True,
                        cwd=REPO, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASSED  test_rnn_step" in ok.stdout
    wrong = tmp_path / "wrong" / f"{AID}.ipynb"
    wrong.parent.mkdir()
    wrong.write_text(json.dumps(with_answer(load("chapters", AID), "rnn_step",
                                            "def rnn_step(x_t, h_prev, W_ih, W_hh, b):\n    return h_prev\n")))
    bad = subprocess.run([sys.executable, "-m", "autograder", "validate", str(wrong)], capture_output=True,
                         text=True, cwd=REPO, timeout=300)
    assert bad.returncode == 1 and "FAILED  test_rnn_step" in bad.stdout
    rep = subprocess.run([sys.executable, "-m", "autograder", "report", str(graded)], capture_output=True, text=True,
                         cwd=REPO)
    assert rep.returncode == 0
    html = (graded / "report.html").read_text()
    assert html.count("<img") >= 2 and "Most frequent failure messages" in html


def test_release_check_detects_a_stale_chapter(tmp_path):
    from autograder.release import generate

    fresh = generate(["01_rnn"], tmp_path)[0]
    committed = REPO / "chapters" / AID / f"{AID}.ipynb"
    assert fresh.read_text() == committed.read_text(), "release is deterministic"


@pytest.mark.parametrize("venv_link", [False, True], ids=["venv-in-clone", "venv-through-a-symlink"])
def test_grading_from_a_clone_and_venv_under_a_0700_directory(klass, graded, venv_link):
    """The repository and its venv inside a folder only its owner may enter (a home directory, mktemp -d);
    also with the clone's ``.venv`` a symbolic link to the venv these tests run in, so that the kernel's
    ``sys.path`` names every package through the link."""
    import sysconfig
    import tempfile

    with tempfile.TemporaryDirectory() as private:
        assert os.stat(private).st_mode & 0o777 == 0o700
        clone = Path(private) / "course"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        if venv_link:
            (clone / ".venv").symlink_to(sys.prefix, target_is_directory=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(clone / ".venv")], check=True)
            site = Path(sysconfig.get_paths(vars={"base": str(clone / ".venv")})["purelib"])
            (site / "course-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # this venv's packages
        out = Path(private) / "out"
        proc = subprocess.run([str(clone / ".venv" / "bin" / "python"), "-m", "autograder", "grade", str(klass),
                               "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=clone)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (out / "grades.csv").read_text() == (graded / "grades.csv").read_text()
