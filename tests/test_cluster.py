"""Grading on a real Dask cluster on 127.0.0.1: the same grades as a local run, nothing lost when a worker dies.

The test starts a ``dask scheduler`` and two ``dask worker`` processes of its
own (each in a process group of its own), and stops exactly those.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.grading_utils import REPO, load, put, with_answer

pytestmark = pytest.mark.slow
DASK = str(Path(sys.executable).parent / "dask")


def start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([DASK, *args], cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    sfile = tmp / "scheduler.json"
    scheduler = start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                       "--scheduler-file", str(sfile)], tmp / "scheduler.log")
    deadline = time.time() + 60
    while not sfile.exists() and time.time() < deadline:
        time.sleep(0.2)
    address = json.loads(sfile.read_text())["address"]
    workers = [start(["worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--name", f"w{i}"],
                     tmp / f"worker{i}.log") for i in range(2)]
    from distributed import Client

    with Client(address, timeout="60s") as client:
        client.wait_for_workers(2, timeout=120)
    yield address, workers
    for proc in [*workers, scheduler]:
        stop(proc)


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("class")
    sol, rel = load("solutions", "01_rnn"), load("chapters", "01_rnn")
    wrong = with_answer(sol, "softmax", "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n")
    for i in range(12):
        put(subs, f"s{i:02d}", "01_rnn", [sol, rel, wrong][i % 3])
    put(subs, "broken", "01_rnn", "{ not json")
    return subs


def grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900, cwd=REPO)


@pytest.fixture(scope="module")
def local(klass, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local")
    proc = grade(klass, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_cluster_gives_the_grades_of_a_local_run(cluster, klass, local, tmp_path):
    address, _ = cluster
    proc = grade(klass, tmp_path / "out", "--scheduler", address)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "grades.csv").read_text() == (local / "grades.csv").read_text()
    assert "13/13 notebooks graded" in proc.stdout and "per worker:" in proc.stdout
    assert "sandbox: unprivileged user:" in proc.stdout


def test_a_worker_killed_mid_run_costs_nothing(cluster, klass, local, tmp_path):
    address, workers = cluster
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(klass), "--out", str(out), "--scheduler",
                            address], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / ".results").glob("*/*.json"))) < 3:
        time.sleep(0.1)
    stop(workers[0])  # the worker, its nanny and its kernels, in the middle of the run
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    rows = (out / "grades.csv").read_text().splitlines()
    assert len(rows) == len(set(rows)) and (out / "grades.csv").read_text() == (local / "grades.csv").read_text()
