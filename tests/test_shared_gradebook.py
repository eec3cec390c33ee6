"""``grade --gradebook postgresql://…`` from several grading hosts at once into one real PostgreSQL server.

The test starts a PostgreSQL server of its own (Debian's ``postgresql``, which
``make test`` installs when run as root) on 127.0.0.1 and a free port, runs
two grading commands at the same time on two halves of a class, and checks
that the gradebook holds every student's score as ``grades.csv`` does.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.grading_utils import REPO, load, put, read_grades

pytestmark = pytest.mark.slow


def _pg(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg("initdb"), _pg("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed: `make test` installs Debian's postgresql when run as root")
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's own user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = tempfile.mkdtemp(prefix="rnncourse-pg-")
    os.chmod(base, 0o755)
    if as_user:
        shutil.chown(base, "postgres", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = f"{base}/data"
    subprocess.run([*as_user, initdb, "-D", data, "--auth=trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", data, "-w", "-l", f"{base}/log", "-o",
                    f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(f"postgresql://postgres@127.0.0.1:{port}/postgres",
                                          isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("CREATE DATABASE gradebook"))
        engine.dispose()
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_two_hosts_write_one_postgres_gradebook_at_once(postgres_url, tmp_path):
    sol, rel = load("solutions", "01_rnn"), load("chapters", "01_rnn")
    halves = [tmp_path / "a", tmp_path / "b"]
    for i in range(8):
        put(halves[i % 2], f"s{i}", "01_rnn", sol if i % 3 else rel)
    runs = [subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(h), "--out", str(h) + "-out",
                              "--workers", "1", "--gradebook", postgres_url], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for h in halves]
    for run in runs:
        out, _ = run.communicate(timeout=900)
        assert run.returncode == 0, out
    from nbgrader.api import Gradebook

    expected = {}
    for h in halves:
        expected.update(read_grades(Path(str(h) + "-out")))
    with Gradebook(postgres_url) as gb:
        assert len(gb.students) == 8
        for (student, aid, gid), (points, _) in expected.items():
            assert gb.find_grade(gid, aid, aid, student).score == points
