"""The source rules (:mod:`autograder.source_rules`) applied in a child process with bounded memory and time.

Parsing untrusted source is work whose size the student chooses. The grader
caps the size of every cell before anything is parsed
(:func:`autograder.submissions.inspect_submission`), and runs the parse and
the rules here, in a process limited to ``MEMORY`` bytes of address space; a
request that takes longer than ``TIMEOUT`` seconds or kills the process is
answered with a refusal of the whole notebook's answers, never by the grader
running out of memory. One child serves a worker for the whole run.

    python -m autograder.policy_process      # JSON lines: {"aid", "cells": [[source, kind, grade_id] ...]}
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from autograder.source_rules import StaticReport

MEMORY = 1536 * 2**20
TIMEOUT = 60.0
REPO = Path(__file__).resolve().parent.parent


class PolicyProcess:
    """The grader's handle on one rules child; restarted after a failure."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.policy_process"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)

    def check(self, aid: str, cells: list) -> StaticReport:
        """The report for a merged notebook's cells; every exercise refused if the rules could not finish."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        request = json.dumps({"aid": aid, "cells": [[c.source, c.kind, c.grade_id] for c in cells]})
        try:
            self.proc.stdin.write(request + "\n")
            self.proc.stdin.flush()
            line = _readline(self.proc, TIMEOUT)
            report = StaticReport(**json.loads(line))
        except (OSError, ValueError, TypeError, TimeoutError):
            self.close()
            why = "the code could not be analysed within the grader's limits (is a cell extremely long or deep?)"
            return StaticReport(forbidden={c.grade_id: why for c in cells if c.kind == "answer"},
                                blocked=[i for i, c in enumerate(cells) if c.kind in ("answer", "student")])
        return report

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError
    line = proc.stdout.readline()
    if not line:
        raise OSError("the rules process exited")
    return line


def main() -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    sys.setrecursionlimit(5000)
    from autograder.notebooks import MergedCell, load_assignment
    from autograder.source_rules import check_notebook

    assignments = {}
    for line in sys.stdin:
        req = json.loads(line)
        aid = req["aid"]
        if aid not in assignments:
            assignments[aid] = load_assignment(aid)
        cells = [MergedCell(src, kind, gid) for src, kind, gid in req["cells"]]
        try:
            report = check_notebook(cells, assignments[aid])
        except (RecursionError, MemoryError):
            raise SystemExit(3) from None
        sys.stdout.write(json.dumps(asdict(report)) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
