"""The source rules (:mod:`autograder.source_rules`) applied in a child process with bounded memory and time.

Parsing untrusted source is work whose size the student chooses. The grader
caps the size of every cell before anything is parsed
(:func:`autograder.submissions.inspect_submission`), and runs the parse and
the rules here, in a process limited to ``MEMORY`` bytes of address space. One
child serves a worker for the whole run.

Two kinds of failure are kept apart, as in :mod:`autograder.kernels`:

- code the rules cannot analyse within those limits (a cell nested too deeply,
  too large for the memory) is the notebook's own: the child catches the
  ``RecursionError`` or ``MemoryError`` and answers with a refusal, and every
  answer of that notebook scores 0 with status ``forbidden``;
- anything else (the child crashes, exits, answers something that is not a
  report or nothing within ``TIMEOUT`` seconds) is the machinery's: the request
  is retried once with a fresh child, then ``check`` raises
  :class:`~autograder.kernels.InfrastructureError` with the cause and the end
  of the child's stderr.

    python -m autograder.policy_process      # JSON lines: {"aid", "cells": [[source, kind, grade_id] ...]}
                                             # answers {"report": {...}} or {"refused": "RecursionError"}
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from autograder.source_rules import StaticReport
from autograder.text import tail

MEMORY = 1536 * 2**20
TIMEOUT = 60.0
REPO = Path(__file__).resolve().parent.parent
COMMAND = (sys.executable, "-m", "autograder.policy_process")
UNANALYSABLE = "the code could not be analysed within the grader's limits (a cell nested too deeply or too large)"
#: what the child may run into on a student's code; anything else is a failure of the machinery
STUDENT_LIMITS = (RecursionError, MemoryError)


class _ChildFailed(Exception):
    """The rules child did not answer with a report or a refusal."""


class PolicyProcess:
    """The grader's handle on one rules child; restarted after a failure or a refusal.

    ``command``: the child's command line (``COMMAND``; tests start a broken one).
    """

    def __init__(self, command: tuple[str, ...] | list[str] = COMMAND) -> None:
        self.command = list(command)
        self.proc: subprocess.Popen | None = None
        self.stderr = None

    def _start(self) -> None:
        self.close()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=env, text=True)

    def check(self, aid: str, cells: list) -> StaticReport:
        """The report for a merged notebook's cells; every answer refused if the code could not be analysed.

        Raises InfrastructureError when the child fails twice in a row.
        """
        from autograder.kernels import InfrastructureError  # not at import: the child does without torch

        request = json.dumps({"aid": aid, "cells": [[c.source, c.kind, c.grade_id] for c in cells]})
        for attempt in range(2):
            try:
                reply = self._ask(request)
            except _ChildFailed as err:
                cause = f"{err}; its stderr ends with: {self._stderr_tail()}"
                self.close()
                if attempt:
                    raise InfrastructureError(f"the source rules could not be applied to {aid} "
                                              f"(the rules process failed twice: {cause})") from None
                continue
            if "refused" in reply:
                self.close()  # a child that ran out of stack or memory is not reused
                return StaticReport(forbidden={c.grade_id: UNANALYSABLE for c in cells if c.kind == "answer"},
                                    blocked=[i for i, c in enumerate(cells) if c.kind in ("answer", "student")])
            return reply["report"]
        raise AssertionError("unreachable")

    def _ask(self, request: str) -> dict:
        """One request to the child (started if needed): ``{"report": StaticReport}`` or ``{"refused": why}``."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(request + "\n")
            self.proc.stdin.flush()
        except OSError as err:
            raise _ChildFailed(f"it stopped reading ({err}; {self._exit()})") from None
        line = _readline(self.proc, TIMEOUT)
        if line is None:
            raise _ChildFailed(f"it did not answer within {TIMEOUT:g} s")
        if not line:
            raise _ChildFailed(f"it exited without answering ({self._exit()})")
        try:
            reply = json.loads(line)
            if set(reply) == {"refused"} and isinstance(reply["refused"], str):
                return reply
            return {"report": StaticReport(**reply["report"])}
        except (ValueError, TypeError, KeyError):
            raise _ChildFailed(f"it answered something that is not a report: {line[:200]!r}") from None

    def _exit(self) -> str:
        assert self.proc is not None
        try:
            return _describe(self.proc.wait(timeout=5))
        except subprocess.TimeoutExpired:
            return "still running"

    def _stderr_tail(self) -> str:
        return "(none)" if self.stderr is None else tail(self.stderr, lines=8, empty="(empty)")

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


def _describe(returncode: int) -> str:
    if returncode < 0 and -returncode in signal.Signals._value2member_map_:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def _readline(proc: subprocess.Popen, timeout: float) -> str | None:
    """The child's next line ("" when it closed its output), or None after ``timeout`` seconds of silence."""
    import select

    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return None
    return proc.stdout.readline()


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
            reply = {"report": asdict(check_notebook(cells, assignments[aid]))}
        except STUDENT_LIMITS as err:
            reply = {"refused": type(err).__name__}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
