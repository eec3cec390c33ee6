"""Verdicts are decided outside the student's process: attacks that rewrite the kernel earn nothing.

Every notebook here is the chapter's full solution with ONE answer replaced by
an attack, graded by the real engine with the course's source rules switched
off (``AllowEverything``), so nothing but the design stands between the attack
and the points: the kernel runs only student code, the checks run in the
grader, and only plain data crosses. The attacked exercise must score 0; the
untouched ones keep their points.
"""
from __future__ import annotations

import pytest

from autograder.engine import grade_notebook
from autograder.kernels import Zygote
from autograder.limits import Limits
from autograder.notebooks import load_assignment
from autograder.source_rules import StaticReport
from tests.grading_utils import cell_by_id, load, with_answer

STEP = "def rnn_step(x_t, h_prev, W_ih, W_hh, b):\n"
WRONG = STEP + "    return h_prev\n"

ATTACKS = {
    "ipython shell": "get_ipython().run_cell = lambda *a, **k: None\n" + WRONG,
    "patched numpy through an alias": "m = np\nm.allclose = lambda *a, **k: True\nm.testing.assert_allclose = "
                                      "lambda *a, **k: None\nm.abs = lambda x: 0 * x\n" + WRONG,
    "patched modules re-exported by numpy": "t = np.testing\nt.sys.modules['numpy'].max = lambda *a, **k: 0.0\n"
                                            + WRONG,
    "reference through sys.modules": "import sys\nrnn_step = sys.modules['rnncourse.rnn'].rnn_step\n",
    "reference through import": "from rnncourse import rnn_step\n",
    "reference through frames": "import sys\nf = sys._getframe()\nwhile f.f_back:\n    f = f.f_back\n"
                                "rnn_step = f.f_globals['ref_rnn_step']\n",
    "an ndarray that wins every comparison":
        "class Liar(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
        "    def __sub__(self, other):\n        return np.zeros(self.shape)\n"
        "    def __array_function__(self, *a, **k):\n        return True\n"
        + STEP + "    return np.zeros((x_t.shape[0], W_hh.shape[0])).view(Liar)\n",
    "zeroed inputs restored before return":
        STEP + "    saved = [a.copy() for a in (x_t, h_prev, W_ih, W_hh, b)]\n"
        "    for a in (x_t, h_prev, W_ih, W_hh, b):\n        a[...] = 0\n"
        "    out = np.tanh(x_t @ W_ih.T + h_prev @ W_hh.T + b)\n"
        "    for a, s in zip((x_t, h_prev, W_ih, W_hh, b), saved):\n        a[...] = s\n    return out\n",
    "writing on the channel": "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'\\x00\\x00\\x00\\x10junk-junk-junk!!')\n"
                              "    except OSError:\n        pass\n" + WRONG,
    "exiting the kernel": "import os\nos._exit(0)\n",
}


class AllowEverything:
    """The source rules switched off: every cell runs."""

    def check(self, aid, cells):
        return StaticReport()

    def close(self):
        pass


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


@pytest.fixture(scope="module")
def assignment():
    return load_assignment("01_rnn")


def grade(nb, assignment, zygote):
    return grade_notebook(nb, "student", assignment, Limits(cell_timeout=20, notebook_timeout=60), zygote,
                          AllowEverything())


def test_the_solution_earns_everything_without_the_source_rules(assignment, zygote):
    result = grade(load("solutions", "01_rnn"), assignment, zygote)
    assert result.points == assignment.max_points, [t.message for t in result.tests]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_earns_nothing_for_what_it_attacks(attack, assignment, zygote):
    nb = with_answer(load("solutions", "01_rnn"), "rnn_step", ATTACKS[attack])
    result = grade(nb, assignment, zygote)
    assert result.test("test_rnn_step").points == 0, attack
    if result.status == "ok":  # the kernel survived: answers that do not use rnn_step keep their points
        assert all(result.test(g).passed for g in ("test_softmax", "test_cross_entropy")), \
            [(t.grade_id, t.message) for t in result.tests]


def test_a_blank_notebook_that_rewrites_everything_earns_nothing(assignment, zygote):
    nb = load("chapters", "01_rnn")
    nb = with_answer(nb, "rnn_step", "import builtins, numpy\nbuiltins.NotImplementedError = type('X', (Exception,), {})\n"
                                     "numpy.allclose = lambda *a, **k: True\n"
                                     "def rnn_step(*a, **k):\n    return a[1]\n")
    result = grade(nb, assignment, zygote)
    assert result.points == 0


def grade_solution_with_prefix(aid: str, exercise: str, prefix: str, zygote):
    """The chapter's solution with ``prefix`` run at the top of one answer cell, before the answer's own code."""
    sol, assignment = load("solutions", aid), load_assignment(aid)
    answer = prefix + "".join(cell_by_id(sol, exercise)["source"])
    return grade(with_answer(sol, exercise, answer), assignment, zygote), assignment


def test_course_helpers_an_answer_may_use_are_answered_by_the_grader(zygote):
    """Chapter 2's answers may call chapter 1's rnn_forward; the kernel has no rnncourse, the grader serves it."""
    result, assignment = grade_solution_with_prefix(
        "02_bptt", "rnn_step_backward",
        "_hs = rnn_forward(np.ones((2, 1, 2)), np.zeros((1, 3)), np.ones((3, 2)), np.eye(3), np.zeros(3))\n"
        "assert _hs.shape == (2, 1, 3) and abs(_hs[0, 0, 0] - np.tanh(2.0)) < 1e-12\n", zygote)
    assert not result.cell_errors, result.cell_errors
    assert result.points == assignment.max_points, [t.message for t in result.tests]


def test_only_the_helpers_a_chapter_needs_are_served(zygote):
    """Chapter 9's exercises need none of the course's decoders or training loops: grading does not run them for
    an answer (they would compute in the grader on the student's behalf), so calling one is a NameError."""
    result, assignment = grade_solution_with_prefix(
        "09_captioning", "init_state_from_features",
        "def _step(prefix):\n    return torch.log_softmax(torch.tensor([0.0, 0, 0, 1.0 * len(prefix), 2]), 0)\n"
        "_seq = greedy_decode(_step, 0, 1, 5)\n", zygote)
    assert result.cell_errors == {"init_state_from_features": "NameError: name 'greedy_decode' is not defined"}
