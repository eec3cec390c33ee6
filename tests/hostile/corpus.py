"""Build a class of hostile, broken and honest submissions from the course's solution and release notebooks.

    python -m tests.hostile.corpus DIR     # writes DIR/<student>/<assignment>/<assignment>.ipynb

``build(root)`` writes the class and returns what each student may earn at
most (``Expect``); tests/test_hostile.py grades it end to end. Every hostile
notebook is the full solution with ONE thing changed, so any point it loses or
keeps is due to that one change. Nothing large is kept in the repository: the
200 MB notebook is a sparse file made on the fly.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.notebooks import load_assignment
from tests.grading_utils import REPO, add_cell_after, cell_by_id, load, put, with_answer

AID = "01_rnn"
STEP = "def rnn_step(x_t, h_prev, W_ih, W_hh, b):\n"
LSTM = "def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):\n"
GRU = "def gru_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):\n"
CORRECT_STEP = STEP + "    return np.tanh(x_t @ W_ih.T + h_prev @ W_hh.T + b)\n"


@dataclass
class Expect:
    """What one submission may earn."""

    aid: str  # the assignment it submitted
    zero: set[str] = field(default_factory=set)  # test cells that must score 0
    status: dict[str, str] = field(default_factory=dict)  # test cell -> the status its row must carry
    max_total: float | None = None  # at most this many points for the notebook (None: no bound beyond zero)
    exact_total: float | None = None  # exactly this many points (honest students)
    all_status: str | None = None  # every row of the notebook carries this status (refused files)


# student -> (source that replaces the rnn_step answer cell, expected status of test_rnn_step or None)
ANSWER_ATTACKS: dict[str, tuple[str, str | None]] = {
    # runaway code: stopped by the wall-clock limit; the notebook scores 0 with status timeout
    "loop": (STEP + "    while True:\n        pass\nrnn_step(0, 0, 0, 0, 0)\n", "timeout"),
    "kbint": (STEP + "    pass\nwhile True:\n    try:\n        sum(range(10**6))\n    except KeyboardInterrupt:\n"
              "        pass\n", "timeout"),
    # resources: each limit turns into an error in that cell only
    "membomb": ("hog = bytearray(2**40)\n" + CORRECT_STEP, "ok"),
    "npbomb": ("import numpy as np\nhog = [np.ones(2**27) for _ in range(64)]\n" + CORRECT_STEP, "ok"),
    "printbomb": ("for _ in range(10**6):\n    print('x' * 1000)\n" + STEP + "    return h_prev\n", "ok"),
    "exitraise": (STEP + "    return h_prev\nraise SystemExit(0)\n", "ok"),
    # everything below is refused before it runs: status forbidden, with a message naming the construct
    "forkbomb": ("import os\nwhile True:\n    os.fork()\n", "forbidden"),
    "hugefile": ("open('big.bin', 'wb').write(b'0' * 2**31)\n", "forbidden"),
    "hugefile_np": ("np.zeros(2**28).tofile('big.bin')\n" + CORRECT_STEP, "forbidden"),
    "osexit": ("import os\nos._exit(0)\n", "forbidden"),
    "sysexit": ("import sys\nsys.exit()\n", "forbidden"),
    "readsol": ("print(open('" + str(REPO / "solutions" / AID / f"{AID}.ipynb") + "').read())\n", "forbidden"),
    "readsol_np": ("s = np.loadtxt('" + str(REPO / "solutions" / AID / f"{AID}.ipynb") + "', dtype=str)\n"
                   + CORRECT_STEP, "forbidden"),
    "readpeer": ("print(open('../../alice/01_rnn/01_rnn.ipynb').read())\n", "forbidden"),
    "readgradebook": ("import sqlite3\nsqlite3.connect('gradebook.db')\n", "forbidden"),
    "network": ("import socket\nsocket.create_connection(('127.0.0.1', 80))\n", "forbidden"),
    "patchnp": ("import numpy as np\nnp.allclose = lambda *a, **k: True\n" + STEP + "    return h_prev\n", "forbidden"),
    "patchassert": ("np.testing.assert_allclose = lambda *a, **k: None\n" + STEP + "    return h_prev\n", "forbidden"),
    "aliaspatch": ("T = np.testing\nT.assert_allclose = print\n" + STEP + "    return h_prev\n", "forbidden"),
    "liar": ("class Liar(np.ndarray):\n    def __array_function__(self, *a, **k):\n        return True\n"
             "    def __eq__(self, other):\n        return True\n"
             + STEP + "    return np.zeros(h_prev.shape).view(Liar)\n", "forbidden"),
    "frames": ("def spy():\n    yield\n" + STEP + "    g = spy()\n    return g.gi_frame.f_back.f_globals\n",
               "forbidden"),
    "reference": ("from rnncourse.rnn import rnn_step\n", "forbidden"),
    "refname": (STEP + "    return ref_rnn_step(x_t, h_prev, W_ih, W_hh, b)\n", "forbidden"),
    "obfuscated": ("m = __import__('rnn' + 'course.rnn', fromlist=['x'])\nrnn_step = m.rnn_step\n", "forbidden"),
    "importlib": ("import importlib\nrnn_step = importlib.import_module('rnn' + 'course').rnn_step\n", "forbidden"),
    "getattr": ("import numpy as np\n" + STEP + "    return getattr(np, 'tanh')(x_t @ W_ih.T + h_prev @ W_hh.T + b)\n",
                "forbidden"),
    "evalcode": (STEP + "    return eval('np.tanh(x_t @ W_ih.T + h_prev @ W_hh.T + b)')\n", "forbidden"),
    "dunder": ("rnn_step = ().__class__.__base__.__subclasses__\n", "forbidden"),
    "shell": ("!cat " + str(REPO / "solutions" / AID / f"{AID}.ipynb") + "\n" + CORRECT_STEP, "forbidden"),
    "cellmagic": ("%%bash\ncat /etc/passwd\n", "forbidden"),
    "getipython": ("get_ipython().system('ls /')\n" + CORRECT_STEP, "forbidden"),
    # text that UTF-8 cannot carry, in the message of the answer's exception: every student still gets a row
    "surrogate": (STEP + "    raise ValueError('\\ud800 and ' + chr(0))\n", "ok"),
    # a forbidden builtin bound as a parameter elsewhere stays forbidden at the top level
    "rebind": ("def _f(exec, getattr):\n    pass\nexec('import os')\n" + CORRECT_STEP, "forbidden"),
    "pickle": ("x = np.load('payload.npy', allow_pickle=True)\n" + CORRECT_STEP, "forbidden"),
}


def _sol() -> dict:
    return load("solutions", AID)


def build(root: Path) -> dict[str, Expect]:
    """Write the class under ``root`` (a submissions folder); returns each student's expectation."""
    root = Path(root)
    a_points = {"test_rnn_step": 2.0, "test_rnn_forward": 3.0, "test_softmax": 2.0, "test_cross_entropy": 2.0}
    full = sum(a_points.values())
    sol, rel = _sol(), load("chapters", AID)
    expect: dict[str, Expect] = {}

    # honest students
    put(root, "alice", AID, sol)
    expect["alice"] = Expect(AID, exact_total=full)
    put(root, "bob", AID, rel)
    expect["bob"] = Expect(AID, exact_total=0.0, status={t: "ok" for t in a_points})
    extra = add_cell_after(add_cell_after(sol, "rnn_step", "import numpy as np\nprint(rnn_step)\n"),
                           "softmax", "probe = softmax(np.array([[1000.0, 0.0]]))\nassert probe.shape == (1, 2)\n")
    put(root, "carol", AID, extra)  # honest extra cells of her own
    expect["carol"] = Expect(AID, exact_total=full)

    for student, (source, status) in ANSWER_ATTACKS.items():
        put(root, student, AID, with_answer(sol, "rnn_step", source))
        e = Expect(AID, zero={"test_rnn_step"}, max_total=full - a_points["test_rnn_step"])
        if status:
            e.status["test_rnn_step"] = status
        expect[student] = e

    # a second cell after the answer that redefines the graded function with the reference
    put(root, "redefine", AID, add_cell_after(with_answer(sol, "rnn_step", STEP + "    raise NotImplementedError\n"),
                                              "rnn_step", "from rnncourse import rnn_step as rnn_step\n"))
    expect["redefine"] = Expect(AID, zero={"test_rnn_step"}, status={"test_rnn_step": "forbidden"},
                                max_total=full - 2)
    put(root, "redefine2", AID, add_cell_after(with_answer(sol, "rnn_step", STEP + "    raise NotImplementedError\n"),
                                               "rnn_step", "rnn_step = ref_rnn_step\n"))
    expect["redefine2"] = Expect(AID, zero={"test_rnn_step"}, status={"test_rnn_step": "forbidden"},
                                 max_total=full - 2)
    # an added cell that patches numpy, bound to no exercise: dropped, never run
    put(root, "addedpatch", AID, add_cell_after(with_answer(sol, "rnn_step", STEP + "    return h_prev\n"),
                                                "rnn_step", "np.allclose = lambda *a, **k: True\n"))
    expect["addedpatch"] = Expect(AID, zero={"test_rnn_step"}, max_total=full - 2)

    # tampering with locked cells, tests and metadata: undone, the source's points and tests apply
    locked = copy.deepcopy(rel)
    cell_by_id(locked, "test_rnn_step")["source"] = "pass"
    put(root, "editlocked", AID, locked)
    expect["editlocked"] = Expect(AID, exact_total=0.0)
    meta = copy.deepcopy(rel)
    for cell in meta["cells"]:
        nbg = cell.get("metadata", {}).get("nbgrader")
        if nbg:
            nbg.update(points=1000, grade=True, locked=False)
            nbg["grade_id"] = "mine_" + nbg["grade_id"]
    put(root, "metadata", AID, meta)
    expect["metadata"] = Expect(AID, exact_total=0.0)
    metapoints = copy.deepcopy(sol)  # a full solution that claims 1000 points per test
    for cell in metapoints["cells"]:
        nbg = cell.get("metadata", {}).get("nbgrader")
        if nbg and nbg.get("grade"):
            nbg["points"] = 1000
    put(root, "metapoints", AID, metapoints)
    expect["metapoints"] = Expect(AID, exact_total=full)
    deleted = copy.deepcopy(rel)
    deleted["cells"] = [c for c in deleted["cells"] if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    put(root, "deletetests", AID, deleted)
    expect["deletetests"] = Expect(AID, exact_total=0.0)

    # the LSTM and GRU chapters: torch's own recurrent cells and kernels, and patching torch
    lstm, gru = load("solutions", "04_lstm"), load("solutions", "05_gru")
    put(root, "lstmhonest", "04_lstm", lstm)
    expect["lstmhonest"] = Expect("04_lstm", exact_total=load_assignment("04_lstm").max_points)
    torch_attacks = {
        "lstmcell": ("04_lstm", "lstm_step", LSTM + "    cell = torch.nn.LSTMCell(x_t.shape[1], h_prev.shape[1])\n"
                     "    with torch.no_grad():\n        cell.weight_ih.copy_(W_ih); cell.weight_hh.copy_(W_hh)\n"
                     "        cell.bias_ih.copy_(b_ih); cell.bias_hh.copy_(b_hh)\n"
                     "    return cell.to(x_t.dtype)(x_t, (h_prev, c_prev))\n", 3.0),
        "lstmkernel": ("04_lstm", "lstm_step", LSTM + "    return torch.lstm_cell(x_t, (h_prev, c_prev), W_ih, W_hh, "
                       "b_ih, b_hh)\n", 3.0),
        "patchtorch": ("04_lstm", "lstm_step", "torch.allclose = lambda *a, **k: True\n" + LSTM
                       + "    return h_prev, c_prev\n", 3.0),
        "torchos": ("04_lstm", "lstm_step", "torch.os.system('cat /etc/passwd')\n" + LSTM
                    + "    return h_prev, c_prev\n", 3.0),
        "grukernel": ("05_gru", "gru_step", GRU + "    return torch.gru_cell(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)\n",
                      3.0),
        "grucount": ("05_gru", "rnn_param_counts", "def rnn_param_counts(input_size, hidden_size):\n"
                     "    return {k: sum(p.numel() for p in m(input_size, hidden_size).parameters())\n"
                     "            for k, m in (('rnn', nn.RNN), ('lstm', nn.LSTM), ('gru', nn.GRU))}\n", 2.0),
    }
    for student, (aid, gid, source, points) in torch_attacks.items():
        base = lstm if aid == "04_lstm" else gru
        put(root, student, aid, with_answer(base, gid, source))
        total = load_assignment(aid).max_points
        expect[student] = Expect(aid, zero={f"test_{gid}"}, status={f"test_{gid}": "forbidden"},
                                 max_total=total - points)

    # a loss that zeroes its logits in place and returns log V, the loss of what it left behind
    put(root, "inplace", AID, with_answer(sol, "cross_entropy", "def cross_entropy(logits, targets):\n"
                                          "    logits[...] = 0\n    return float(np.log(logits.shape[-1]))\n"))
    expect["inplace"] = Expect(AID, zero={"test_cross_entropy"}, status={"test_cross_entropy": "ok"},
                               max_total=full - 2)

    # a course helper asked for 100,000 steps of 1,000 units (about 10 s of work): it runs in the helper process and is stopped at the cell's limit
    bptt = load("solutions", "02_bptt")
    bomb = ("rnn_forward(np.ones((100_000, 1, 1)), np.zeros((1, 1000)), np.ones((1000, 1)), np.ones((1000, 1000)), "
            "np.zeros(1000))\n")
    put(root, "helperbomb", "02_bptt", with_answer(bptt, "rnn_step_backward",
                                                   bomb + "".join(cell_by_id(bptt, "rnn_step_backward")["source"])))
    expect["helperbomb"] = Expect("02_bptt", exact_total=0.0, all_status="timeout")

    # malformed files: refused with a status, one row per test cell, never followed
    put(root, "badjson", AID, "{ not json")
    put(root, "nbformat3", AID, json.dumps({**sol, "nbformat": 3}))
    put(root, "binary", AID, os.urandom(4096))
    put(root, "utf16", AID, json.dumps(sol).encode("utf-16"))
    put(root, "manycells", AID, json.dumps({**sol, "cells": sol["cells"] * 300}))
    put(root, "wrongname", AID, sol, name="homework.ipynb")
    put(root, "bigcell", AID, with_answer(sol, "rnn_step", CORRECT_STEP + "x = 1\n" * 400_000))  # 2.4 MB of code
    expect["magics"] = Expect(AID, exact_total=9.0)  # cells of magics are dropped; the result stays small
    put(root, "magics", AID, add_cell_after(sol, "test_rnn_step", "%ls\n" * 40_000))
    big = put(root, "huge", AID, "")
    with open(big, "wb") as fh:
        fh.truncate(200 * 2**20)  # sparse: no disk space used
    outside = root.parent / (root.name + "-outside")
    (outside / AID).mkdir(parents=True, exist_ok=True)
    (outside / AID / f"{AID}.ipynb").write_text(json.dumps(sol))
    (root / "symlinkfile" / AID).mkdir(parents=True, exist_ok=True)
    os.symlink(outside / AID / f"{AID}.ipynb", root / "symlinkfile" / AID / f"{AID}.ipynb")
    os.symlink(outside, root / "linkfolder")
    (root / "dotdot").mkdir()
    os.symlink(Path("..") / ".." / outside.name / AID, root / "dotdot" / AID)
    for student, status in [("badjson", "invalid-notebook"), ("nbformat3", "invalid-notebook"),
                            ("binary", "invalid-notebook"), ("utf16", "invalid-notebook"),
                            ("manycells", "too-many-cells"), ("wrongname", "wrong-name"), ("huge", "too-large"),
                            ("bigcell", "too-large"),
                            ("symlinkfile", "invalid-notebook"), ("linkfolder", "invalid-notebook"),
                            ("dotdot", "invalid-notebook")]:
        expect[student] = Expect(AID, exact_total=0.0, all_status=status)
    return expect


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-class")
    target.mkdir(parents=True, exist_ok=True)
    for name, e in sorted(build(target).items()):
        print(f"{name:14s} {e.aid:18s} zero={sorted(e.zero)} status={e.status} max={e.max_total} "
              f"exact={e.exact_total} all={e.all_status}")
