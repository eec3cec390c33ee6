"""The kernel sandbox, layer by layer, and the refusal of malformed files."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from autograder.executor import Zygote
from autograder.limits import Limits
from autograder.sandbox import describe_layers, inspect_submission
from tests.notebook_utils import REPO

pytestmark = pytest.mark.slow
SECRET = REPO / "solutions" / "01_rnn" / "01_rnn.ipynb"


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    z.start()
    yield z
    z.close()


def run(z, *cells, **limits):
    return z.run(list(cells), Limits(**{"cell_timeout": 5, "notebook_timeout": 20, **limits}),
                 [REPO / "solutions", REPO / ".git"])


def test_layers_are_reported(zygote):
    res = run(zygote, "x = 1")
    lines = describe_layers(res.layers)
    assert len(lines) == 5 and all(line.startswith("sandbox: ") for line in lines)
    assert res.layers["resource limits"] and res.layers["scratch directory"]


def test_hidden_paths_network_and_user(zygote):
    res = run(zygote, f"open({str(SECRET)!r}).read()",
              "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', 22))",
              "import os\nprint(os.getuid())", "import os\nprint(sorted(os.listdir('.')))")
    if res.layers["mount namespace"]:
        assert res.cells[0].error and res.cells[0].ename in ("FileNotFoundError", "PermissionError")
    if res.layers["network namespace"]:
        assert res.cells[1].error and res.cells[1].ename in ("OSError", "ConnectionRefusedError", "TimeoutError")
    if res.layers["unprivileged user"]:
        assert res.cells[2].stdout.strip() == "65534"
    assert "01_rnn" not in res.cells[3].stdout


def test_memory_bomb_is_an_error_not_a_crash(zygote):
    res = run(zygote, "a = bytearray(64 * 2**30)", "print('alive')")
    assert res.cells[0].ename == "MemoryError" and res.cells[1].stdout.strip() == "alive"


def test_file_size_limit(zygote):
    res = run(zygote, "f = open('big.bin', 'wb')\nf.write(b'0' * (2 * 2**20))\nf.flush()", max_file_size=2**20)
    assert res.cells[0].error and res.cells[0].ename == "OSError"


def test_output_is_capped(zygote):
    res = run(zygote, "for i in range(200000):\n    print('x' * 100)", max_output_bytes=10_000)
    assert len(res.cells[0].stdout) < 12_000 and "dropped" in res.cells[0].stdout


@pytest.mark.parametrize("code", ["while True:\n    pass",
                                  "while True:\n    try:\n        sum(range(10**6))\n    except KeyboardInterrupt:\n"
                                  "        pass"])
def test_infinite_loops_time_out(zygote, code):
    res = run(zygote, code, cell_timeout=2)
    assert res.status == "timeout"


@pytest.mark.parametrize("code", ["import os\nos._exit(0)", "import ctypes\nctypes.string_at(0)",
                                  "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
def test_a_dying_kernel_is_an_error_for_that_notebook_only(zygote, code):
    res = run(zygote, "x = 1", code, "print(x)")
    assert res.status == "error" and not res.cells[2].ran
    assert run(zygote, "print(40 + 2)").cells[0].stdout.strip() == "42"  # the next notebook is fine


def test_fork_bomb_is_contained(zygote):
    res = run(zygote, "import os\nfor _ in range(100000):\n    try:\n        os.fork()\n    except OSError:\n"
                      "        pass", "print('done')", cell_timeout=5, max_processes=64)
    assert res.status in ("timeout", "error", "ok")
    out = subprocess.run(["ps", "-eo", "user:20,stat"], capture_output=True, text=True).stdout
    alive = [line for line in out.splitlines() if line.startswith("nobody") and "Z" not in line.split()[-1]]
    assert not alive, f"no stray processes: {alive[:5]}"
    run(zygote, "x = 1")  # the next job reaps the zombies
    out = subprocess.run(["ps", "-eo", "user:20,stat"], capture_output=True, text=True).stdout
    assert not [line for line in out.splitlines() if line.startswith("nobody")]


def test_sys_exit_is_just_an_error(zygote):
    res = run(zygote, "import sys\nsys.exit()", "print('still here')")
    assert res.cells[0].ename == "SystemExit" and res.cells[1].stdout.strip() == "still here"


def _nb(cells: int = 1, nbformat: int = 4) -> str:
    return json.dumps({"nbformat": nbformat, "nbformat_minor": 4, "metadata": {},
                       "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
                                  "execution_count": None}] * cells})


def test_malformed_files_are_refused(tmp_path):
    limits = Limits()
    root = tmp_path / "subs"
    d = root / "s" / "01_rnn"
    d.mkdir(parents=True)
    p = d / "01_rnn.ipynb"
    cases = {
        "invalid-notebook": [b"{not json", b"\x00\x01\x02\xff" * 100, _nb(nbformat=3).encode(),
                             json.dumps([1, 2]).encode(), json.dumps({"nbformat": 4, "cells": [{"cell_type": 7}]}).encode()],
        "too-many-cells": [_nb(cells=10_000).encode()],
        None: [_nb().encode()],
    }
    for expected, payloads in cases.items():
        for payload in payloads:
            p.write_bytes(payload)
            assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == expected, payload[:40]
    with open(p, "wb") as fh:  # a 200 MB notebook, sparse on disk
        fh.truncate(200 * 2**20)
    assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == "too-large"
    p.unlink()
    outside = tmp_path / "outside.ipynb"
    outside.write_text(_nb())
    os.symlink(outside, p)
    assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == "invalid-notebook"
    p.unlink()
    os.symlink("../../../outside.ipynb", p)
    assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == "invalid-notebook"
    p.unlink()
    (d / "homework.ipynb").write_text(_nb())
    assert inspect_submission(d / "homework.ipynb", root, "01_rnn.ipynb", limits)[0] == "wrong-name"
    assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == "missing"
