"""A class of 200 notebooks over all nine chapters, about a tenth of them hostile, graded by the CLI with two
workers: every notebook gets its rows, honest students get exactly what they earned, and the grader's memory
stays under the README's bound (``GRADER_MEMORY_BOUND`` for two workers)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.notebooks import load_assignment
from autograder.release import assignment_ids
from tests.grading_utils import REPO, add_cell_after, load, put, read_grades, total, with_answer

pytestmark = pytest.mark.slow

#: the grader process's peak memory with two workers (README, "Limits"): 0.5 GiB for itself, 0.5 GiB per worker
GRADER_MEMORY_BOUND = 1.5 * 2**30
STEP = "def rnn_step(x_t, h_prev, W_ih, W_hh, b):\n"
#: hostile answers of rnn_step (chapter 1), each with the status of its test_rnn_step row
HOSTILE = {
    "loop": (STEP + "    while True:\n        pass\n", "timeout"),
    "surrogate": (STEP + "    raise ValueError('\\ud800' * 1000)\n", "ok"),
    "membomb": ("hog = bytearray(2**40)\n" + STEP + "    return h_prev\n", "ok"),
    "printbomb": ("for _ in range(10**5):\n    print('\\x00' * 1000)\n" + STEP + "    return h_prev\n", "ok"),
    "rebind": ("def _f(exec):\n    pass\nexec('import os')\n", "forbidden"),
    "sysexit": ("import sys\nsys.exit()\n", "forbidden"),
    "huge_output": (STEP + "    return np.zeros((4096, 4096))\n", "error"),  # 128 MiB: over the frame limit
    "deep": ("x = " + "-" * 3000 + "1\n" + STEP + "    return h_prev\n", "forbidden"),
}
SLOW = {"06_language_model", "07_sampling"}  # one honest notebook each: their canaries dominate the time


def build(root):
    """The class; returns {(student, aid): (exact total or None, {grade_id: status})}."""
    expect = {}
    aids = assignment_ids()
    fast = [a for a in aids if a not in SLOW]
    n = 0
    for aid in aids:  # every chapter: a full solution and a blank release
        put(root, f"s{n:03d}", aid, load("solutions", aid))
        expect[(f"s{n:03d}", aid)] = (load_assignment(aid).max_points, {})
        put(root, f"s{n + 1:03d}", aid, load("chapters", aid))
        expect[(f"s{n + 1:03d}", aid)] = (0.0, {})
        n += 2
    i = 0
    while n < 200:
        student = f"s{n:03d}"
        if n % 10 == 5:  # a tenth are hostile
            name = sorted(HOSTILE)[i % len(HOSTILE)]
            source, status = HOSTILE[name]
            put(root, student, "01_rnn", with_answer(load("solutions", "01_rnn"), "rnn_step", source))
            expect[(student, "01_rnn")] = (None, {"test_rnn_step": status})
            i += 1
        elif n % 10 == 7:  # a malformed file
            put(root, student, "01_rnn", "{ not a notebook")
            expect[(student, "01_rnn")] = (0.0, {t.grade_id: "invalid-notebook"
                                                 for t in load_assignment("01_rnn").tests})
        else:  # honest: a solution with a harmless cell of their own, or the blank release
            aid = fast[n % len(fast)]
            nb = load("solutions", aid) if n % 3 else load("chapters", aid)
            nb = add_cell_after(nb, load_assignment(aid).exercises[0], "note = 'my own cell'\nprint(note)\n")
            put(root, student, aid, nb)
            expect[(student, aid)] = (load_assignment(aid).max_points if n % 3 else 0.0, {})
        n += 1
    return expect


def test_a_class_of_200_with_hostile_notebooks(tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"
    subs.mkdir()
    expect = build(subs)
    run = ("import resource, sys\nfrom autograder.cli import main\nrc = main(sys.argv[1:])\n"
           "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\nsys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", run, "grade", str(subs), "--out", str(out), "--workers", "2",
                           "--no-progress", "--cell-timeout", "5", "--notebook-timeout", "60",
                           "--memory-bytes", str(2**30)], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    grades = read_grades(out)
    for (student, aid), (exact, statuses) in expect.items():
        tests = {t.grade_id for t in load_assignment(aid).tests}
        assert {k[2] for k in grades if k[:2] == (student, aid)} == tests, (student, aid)
        if exact is not None:
            assert total(grades, student, aid) == exact, (student, aid, total(grades, student, aid))
        for grade_id, status in statuses.items():
            assert grades[(student, aid, grade_id)][1] == status, (student, aid, grades[(student, aid, grade_id)])
    submitted = {k[:2] for k, (_, status) in grades.items() if status != "missing"}
    assert submitted == set(expect) and len(expect) == 200
    maxrss = int(proc.stdout.split("MAXRSS")[-1].split()[0])
    assert maxrss < GRADER_MEMORY_BOUND, f"the grader's peak memory was {maxrss / 2**30:.2f} GiB"
    for page in (out / "feedback").rglob("*.html"):
        page.read_bytes().decode("utf-8")
    print(json.dumps({"maxrss_GiB": round(maxrss / 2**30, 2), "last_line": proc.stdout.strip().splitlines()[-2]}))
