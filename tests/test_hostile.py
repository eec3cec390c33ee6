"""A class of hostile and broken submissions graded together with honest ones.

Each hostile notebook must earn no point it did not earn, every honest
student's grade must stay what it is, the run must finish with exit code 0,
every submission must get its rows, and no process may be left behind.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_utils import REPO, add_cell_after, cell_by_id, load, put, read_grades, total, with_answer

pytestmark = pytest.mark.slow
AID = "01_rnn"
STEP = "def rnn_step(x_t, h_prev, W_ih, W_hh, b):\n"

# student -> the replacement for the rnn_step answer cell (all other answers are correct)
ANSWER_ATTACKS = {
    "loop": STEP + "    while True:\n        pass\n",
    "kbint": STEP + "    pass\nwhile True:\n    try:\n        sum(range(10**6))\n    except KeyboardInterrupt:\n        pass\n",
    "membomb": "hog = bytearray(2**40)\n" + STEP + "    return h_prev\n",
    "forkbomb": "import os\nwhile True:\n    os.fork()\n",
    "printbomb": "for _ in range(10**8):\n    print('x' * 1000)\n",
    "hugefile": "open('big.bin', 'wb').write(b'0' * 2**31)\n",
    "osexit": "import os\nos._exit(0)\n",
    "sysexit": "import sys\nsys.exit()\n",
    "readsol": "print(open('" + str(REPO / "solutions" / AID / f"{AID}.ipynb") + "').read())\n",
    "readpeer": "print(open('../alice/01_rnn/01_rnn.ipynb').read())\n",
    "network": "import socket\nsocket.create_connection(('127.0.0.1', 80))\n",
    "patchnp": "import numpy as np\nnp.allclose = lambda *a, **k: True\n" + STEP + "    return h_prev\n",
    "reference": "from rnncourse.rnn import rnn_step\n",
    "obfuscated": "m = __import__('rnn' + 'course.rnn', fromlist=['x'])\nrnn_step = m.rnn_step\n",
    "getattr": "import numpy as np\n" + STEP + "    return getattr(np, 'tanh')(x_t @ W_ih.T + h_prev @ W_hh.T + b)\n",
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    subs = tmp_path_factory.mktemp("hostile")
    sol, rel = load("solutions", AID), load("chapters", AID)
    put(subs, "alice", AID, sol)
    put(subs, "bob", AID, rel)
    for student, source in ANSWER_ATTACKS.items():
        put(subs, student, AID, with_answer(sol, "rnn_step", source))
    # a second cell that redefines the graded function with the reference, after the answer cell
    put(subs, "redefine", AID, add_cell_after(with_answer(sol, "rnn_step", STEP + "    raise NotImplementedError\n"),
                                              "rnn_step", "from rnncourse import rnn_step as rnn_step\n"))
    locked = copy.deepcopy(rel)
    cell_by_id(locked, "test_rnn_step")["source"] = "pass"
    put(subs, "editlocked", AID, locked)
    meta = copy.deepcopy(rel)
    for cell in meta["cells"]:
        nbg = cell.get("metadata", {}).get("nbgrader")
        if nbg:
            nbg.update(points=1000, grade=True, locked=False)
            nbg["grade_id"] = "mine_" + nbg["grade_id"]
    put(subs, "metadata", AID, meta)
    deleted = copy.deepcopy(rel)
    deleted["cells"] = [c for c in deleted["cells"] if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    put(subs, "deletetests", AID, deleted)
    # LSTM chapter: the answer uses torch.nn.LSTMCell
    lstm = load("solutions", "04_lstm")
    put(subs, "lstmcell", "04_lstm", with_answer(
        lstm, "lstm_step", "def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):\n"
        "    cell = torch.nn.LSTMCell(x_t.shape[1], h_prev.shape[1]).to(x_t.dtype)\n"
        "    with torch.no_grad():\n        cell.weight_ih.copy_(W_ih); cell.weight_hh.copy_(W_hh)\n"
        "        cell.bias_ih.copy_(b_ih); cell.bias_hh.copy_(b_hh)\n    return cell(x_t, (h_prev, c_prev))\n"))
    put(subs, "lstmhonest", "04_lstm", lstm)
    # malformed files
    put(subs, "badjson", AID, "{ not json")
    put(subs, "nbformat3", AID, json.dumps({**sol, "nbformat": 3}))
    put(subs, "binary", AID, os.urandom(4096))
    put(subs, "manycells", AID, json.dumps({**sol, "cells": sol["cells"] * 300}))
    put(subs, "wrongname", AID, sol, name="homework.ipynb")
    big = put(subs, "huge", AID, "")
    with open(big, "wb") as fh:
        fh.truncate(200 * 2**20)
    outside = tmp_path_factory.mktemp("outside")
    (outside / AID).mkdir()
    (outside / AID / f"{AID}.ipynb").write_text(json.dumps(sol))
    (subs / "symlinkfile" / AID).mkdir(parents=True)
    os.symlink(outside / AID / f"{AID}.ipynb", subs / "symlinkfile" / AID / f"{AID}.ipynb")
    os.symlink(outside, subs / "dotdot")
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--workers", "2",
                           "--cell-timeout", "6", "--notebook-timeout", "90"],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    return proc, read_grades(out), out


def test_the_run_finishes_and_reports_its_sandbox(result):
    proc, grades, _ = result
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sandbox: mount namespace" in proc.stdout


def test_honest_students_are_unaffected(result):
    _, g, _ = result
    assert total(g, "alice", AID) == 9.0
    assert total(g, "bob", AID) == 0.0
    assert total(g, "lstmhonest", "04_lstm") == 10.0


@pytest.mark.parametrize("student", sorted(ANSWER_ATTACKS) + ["redefine", "editlocked"])
def test_attacks_on_rnn_step_earn_nothing_for_it(result, student):
    _, g, _ = result
    assert g[(student, AID, "test_rnn_step")][0] == 0.0
    assert total(g, student, AID) <= 7.0


@pytest.mark.parametrize("student,status", [("forkbomb", "forbidden"), ("reference", "forbidden"),
                                            ("obfuscated", "forbidden"), ("patchnp", "forbidden"),
                                            ("readsol", "forbidden"), ("osexit", "forbidden"),
                                            ("loop", "timeout"), ("kbint", "timeout")])
def test_statuses_name_what_happened(result, student, status):
    _, g, _ = result
    assert g[(student, AID, "test_rnn_step")][1] == status


def test_tampering_with_cells_and_metadata_earns_nothing(result):
    _, g, _ = result
    for student in ("metadata", "deletetests", "editlocked"):
        assert total(g, student, AID) == 0.0
        assert {k[2] for k in g if k[0] == student and k[1] == AID} == {
            "test_rnn_step", "test_rnn_forward", "test_softmax", "test_cross_entropy"}


def test_lstm_cell_for_lstm_step_is_forbidden(result):
    _, g, out = result
    assert g[("lstmcell", "04_lstm", "test_lstm_step")] == (0.0, "forbidden")
    assert total(g, "lstmcell", "04_lstm") == 7.0
    page = (out / "feedback" / "lstmcell" / "04_lstm" / "04_lstm.html").read_text()
    assert "LSTMCell" in page


@pytest.mark.parametrize("student,status", [("badjson", "invalid-notebook"), ("nbformat3", "invalid-notebook"),
                                            ("binary", "invalid-notebook"), ("manycells", "too-many-cells"),
                                            ("wrongname", "wrong-name"), ("huge", "too-large"),
                                            ("symlinkfile", "invalid-notebook"), ("dotdot", "invalid-notebook")])
def test_malformed_files_get_a_row_with_their_status(result, student, status):
    _, g, _ = result
    rows = [v for k, v in g.items() if k[0] == student and k[1] == AID]
    assert len(rows) == 4 and all(v == (0.0, status) for v in rows), rows


def test_no_process_is_left_behind(result):
    out = subprocess.run(["ps", "-eo", "user:20,args"], capture_output=True, text=True).stdout
    assert "autograder.zygote" not in out
    assert not [line for line in out.splitlines() if line.startswith("nobody")]
