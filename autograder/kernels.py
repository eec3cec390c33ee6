"""The grader's side of the kernels: starts the zygote, asks it for kernels, kills them, tells failures apart.

:class:`Zygote` is the grader-side client of :mod:`autograder.zygote` (one
per worker). ``Zygote.spawn`` creates a fresh pair of pipes for one notebook,
hands the kernel's ends to the zygote (``SCM_RIGHTS``) and returns a
:class:`KernelProcess` that owns the grader's ends: nothing else holds them.

Two kinds of failure are kept apart, because only one of them can be a grade:

- :class:`InfrastructureError` — the machinery failed before any student code
  ran (the zygote or a kernel could not start, the prelude failed). It is
  retried, and if it persists the run stops without writing grades.
- :class:`KernelGone` — the kernel died or broke the protocol after the
  student's code started running: the student's notebook did that.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from autograder import wire
from autograder.limits import Limits
from autograder.sandbox import FULL, PRIVILEGES
from autograder.text import tail

REPO = Path(__file__).resolve().parent.parent


class InfrastructureError(BaseException):
    """Grading itself cannot work here; never a student's grade.

    Like :class:`KernelGone` it is no ``Exception``: a hidden check's ``except Exception`` around a call of the
    student's code cannot turn it into the student's failure.
    """


class KernelGone(BaseException):
    """The kernel died, went silent or broke the protocol while running student code (no ``Exception``, so that
    no check's ``except Exception`` mistakes it for an error of the student's function)."""


#: the only variables of the grader's environment that reach the kernels (``HOME`` is set to the kernel's /tmp):
#: an instructor's tokens and passwords stay in the grader
KERNEL_ENVIRONMENT = ("PATH", "LANG", "LANGUAGE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                      "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMEXPR_NUM_THREADS",
                      "VECLIB_MAXIMUM_THREADS")


def kernel_environment(environ: dict | None = None) -> dict[str, str]:
    """The environment a kernel factory (and so every kernel) starts with: an allowlist of the grader's."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in KERNEL_ENVIRONMENT or k.startswith("LC_")}
    env.update(HOME="/tmp", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(REPO), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.setdefault("PATH", os.defpath)
    return env


class Zygote:
    """One pre-loaded kernel factory, started on first use and restarted if it dies.

    ``privileges``: how much of the grader's privilege the kernels' sandbox uses
    (:data:`autograder.sandbox.PRIVILEGES`; the tests ask for less than ``full``).
    """

    def __init__(self, privileges: str = FULL) -> None:
        if privileges not in PRIVILEGES:
            raise ValueError(f"privileges must be one of {', '.join(PRIVILEGES)}, got {privileges!r}")
        self.privileges = privileges
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.log = tempfile.TemporaryFile()

    def start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.zygote", str(theirs.fileno()),
                                      self.privileges],
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=kernel_environment(), cwd="/",
                                     start_new_session=True)
        theirs.close()
        self.sock = mine
        msg = self._recv(timeout=300)
        if msg.get("zygote") != "ready":
            raise InfrastructureError(f"the kernel factory did not start: {msg or self._log_tail()}")

    def _log_tail(self) -> str:
        return tail(self.log)

    def _recv(self, timeout: float) -> dict:
        if self.sock is None:
            raise InfrastructureError("the kernel factory is closed")
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except (TimeoutError, socket.timeout):
            raise InfrastructureError("the kernel factory did not answer in time") from None
        except OSError as err:
            raise InfrastructureError(f"the kernel factory is gone ({err}): {self._log_tail()}") from None
        if not data:
            raise InfrastructureError(f"the kernel factory exited: {self._log_tail()}")
        return json.loads(data)

    def spawn(self, limits: Limits, prelude: str) -> "KernelProcess":
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.start()
        assert self.sock is not None
        to_kernel_r, to_kernel_w = os.pipe()
        from_kernel_r, from_kernel_w = os.pipe()
        root = tempfile.mkdtemp(prefix="rnncourse-kernel-")
        job = uuid.uuid4().hex
        msg = {"job": job, "root": root, "limits": dataclasses.asdict(limits), "prelude": prelude}
        try:
            socket.send_fds(self.sock, [json.dumps(msg).encode()], [to_kernel_r, from_kernel_w])
        except OSError as err:
            raise InfrastructureError(f"the kernel factory is gone ({err})") from None
        finally:
            os.close(to_kernel_r)
            os.close(from_kernel_w)
        reply = self._recv(timeout=60)
        if reply.get("job") != job or "pid" not in reply:
            os.close(to_kernel_w)
            os.close(from_kernel_r)
            raise InfrastructureError(f"the kernel factory refused a job: {reply}")
        os.set_blocking(to_kernel_w, False)  # the grader's writes wait on its deadlines, never on the kernel
        return KernelProcess(self, job, reply["pid"], wire.Channel(from_kernel_r, to_kernel_w), root)

    def wait_exit(self, job: str, timeout: float) -> int | None:
        """The exit status of ``job``'s keeper, as the zygote reports it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self._recv(timeout=max(0.01, deadline - time.monotonic()))
            except InfrastructureError:
                return None
            if msg.get("job") == job and "exit" in msg:
                return msg["exit"]
        return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None


@dataclasses.dataclass
class KernelProcess:
    """One notebook's kernel as the grader holds it: the keeper's pid and the grader's ends of the channel."""

    zygote: Zygote
    job: str
    pid: int
    channel: wire.Channel
    root: str
    layers: dict = dataclasses.field(default_factory=dict)
    finished: bool = False

    def kill(self, grace: float = 0.0) -> int | None:
        """End the kernel and everything it started; returns the keeper's exit status (None if unknown).

        With ``grace``, a kernel told to stop gets that many seconds to exit on its own first: once the
        zygote has reaped its keeper, the pid may belong to another process and must not be signalled.
        """
        if self.finished:
            return None
        self.finished = True
        status = self.zygote.wait_exit(self.job, timeout=grace) if grace else None
        if status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            status = self.zygote.wait_exit(self.job, timeout=30)
        if status is None:
            self.zygote.close()  # out of step with the zygote: start a fresh one next time
        self.channel.close()
        try:
            os.rmdir(self.root)
        except OSError:
            pass
        return status


def describe_status(status: int | None) -> str:
    if status is None:
        return "unknown"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by {signal.Signals(sig).name}" if sig in signal.Signals._value2member_map_ else f"signal {sig}"
    code = os.WEXITSTATUS(status)
    if code > 128 and code - 128 in signal.Signals._value2member_map_:
        return f"killed by {signal.Signals(code - 128).name}"
    return f"exit code {code}"
