"""The grader side of execution: drives a zygote, enforces wall-clock limits, survives any child death."""
from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.limits import Limits

MAX_LINE = 8 * 2**20  # a longer protocol line is treated as a broken kernel


@dataclass
class CellResult:
    """The outcome of one cell."""

    error: bool = False  # the cell raised
    ename: str = ""  # exception class name
    evalue: str = ""  # exception message
    stdout: str = ""  # captured, capped standard output
    stderr: str = ""  # captured, capped standard error
    ran: bool = True  # False: never executed (the kernel had died or timed out before)


@dataclass
class RunResult:
    """The outcome of one notebook."""

    cells: list[CellResult] = field(default_factory=list)
    status: str = "ok"  # ok, timeout (a wall-clock limit hit) or error (the kernel died)
    detail: str = ""  # why, when status is not ok
    layers: dict = field(default_factory=dict)  # sandbox layers that took effect


class KernelGone(Exception):
    pass


class Zygote:
    """One pre-loaded kernel factory; ``run`` executes one notebook's cells in a fresh forked child."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.buf = b""

    def start(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
                   PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.zygote"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        self.buf = b""
        msg = self._read(timeout=300)
        if msg.get("zygote") != "ready":
            raise RuntimeError(f"the grading kernel did not start: {msg}")

    def close(self) -> None:
        """Stop the zygote: end of input lets it reap its orphans and exit; kill it if it does not."""
        if self.proc is not None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None

    def _send(self, msg: dict) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as err:
            raise KernelGone(str(err)) from None

    def _read(self, timeout: float) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise KernelGone("the grading kernel closed its output")
            self.buf += chunk
            if len(self.buf) > MAX_LINE:
                raise KernelGone("the kernel sent an oversized message")
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise KernelGone("the kernel sent a malformed message") from None

    def _kill_child(self, pid: int) -> None:
        """Kill the notebook's whole process group, again and again until no member is left."""
        for _ in range(200):
            members = _group_members(pid)
            if not members:
                return
            for member in members:
                try:
                    os.kill(member, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.005)

    def _wait_exit(self, child: int) -> int | None:
        """Read messages until the zygote reports the child's exit (killing it if needed)."""
        for attempt in range(3):
            try:
                while True:
                    msg = self._read(timeout=10)
                    if "exit" in msg:
                        return msg["exit"]
            except TimeoutError:
                self._kill_child(child)
            except KernelGone:
                return None
        return None

    def run(self, sources: list[str], limits: Limits, hide: list[Path]) -> RunResult:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        result = RunResult()
        with tempfile.TemporaryDirectory(prefix="rnncourse-kernel-") as scratch:
            os.chmod(scratch, 0o700)
            job = {"scratch": scratch, "limits": dataclasses.asdict(limits), "hide": [str(p) for p in hide]}
            child = None
            exited = False
            start = time.monotonic()
            try:
                self._send(job)
                child = self._read(timeout=60).get("child")
                if child is None:
                    raise KernelGone("the grading kernel did not fork")
                ready = self._read(timeout=120)
                if "exit" in ready:
                    exited = True
                    raise KernelGone(f"the kernel could not start ({_describe_status(ready['exit'])})")
                if not ready.get("ready"):
                    raise KernelGone("the kernel did not start")
                result.layers = ready.get("layers", {})
                for source in sources:
                    left = limits.notebook_timeout - (time.monotonic() - start)
                    budget = min(limits.cell_timeout, left)
                    if budget <= 0:
                        raise TimeoutError
                    self._send({"source": source})
                    msg = self._read(timeout=budget)
                    if "exit" in msg:  # the zygote reports that the child has gone
                        exited = True
                        raise KernelGone(_describe_status(msg["exit"]))
                    result.cells.append(CellResult(**{k: msg.get(k, d) for k, d in
                                                      (("error", False), ("ename", ""), ("evalue", ""),
                                                       ("stdout", ""), ("stderr", ""))}))
                self._send({"done": True})
                self._wait_exit(child)
                exited = True
            except TimeoutError:
                which = "cell" if len(result.cells) < len(sources) else "notebook"
                result.status, result.detail = "timeout", (
                    f"a {which} ran past its time limit ({limits.cell_timeout:g} s per cell, "
                    f"{limits.notebook_timeout:g} s per notebook)")
                if child is not None:
                    self._kill_child(child)
                    self._wait_exit(child)
                    exited = True
            except KernelGone as gone:
                result.status, result.detail = "error", f"the kernel died ({gone})"
            finally:
                if child is not None:
                    self._kill_child(child)  # strays left by the notebook (its whole process group)
                    if not exited and self.proc is not None and self.proc.poll() is None:
                        if self._wait_exit(child) is None:
                            self.close()  # out of step with the zygote: start a fresh one next time
                if self.proc is not None and self.proc.poll() is not None:
                    self.close()  # the zygote itself died: the next notebook starts a new one
        if result.status == "ok" and len(result.cells) < len(sources):
            result.status = "error"
        while len(result.cells) < len(sources):
            result.cells.append(CellResult(error=True, ename="NotRun", evalue=result.detail, ran=False))
        return result


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(int(entry.name))
    return members


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exit code {os.WEXITSTATUS(status)}"
