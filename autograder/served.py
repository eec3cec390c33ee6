"""Course helpers that an answer may call, run for the grader in a child process with bounded memory and time.

In grading the kernel holds no course code, so a call of ``rnn_forward`` in a
chapter-2 answer travels to the grader as a callback. The grader does not run
the helper itself: the student chooses the arguments, and with them the work.
A child process (one per grading worker, started on the first call) runs it
under an address-space limit (``MEMORY`` beyond what it holds at start), on arguments of at most
``MAX_ARGUMENT_BYTES``, within the deadline of the cell or test that called it.
Past the deadline the child is killed and the notebook gets ``timeout``; the
next call starts a fresh child. Only plain data crosses, in both directions
(:mod:`autograder.wire`), and only the helpers ``SERVED`` lists for the chapter
run: data-in, data-out functions that a chapter's answers may reasonably call.
The course's other names (models, training loops, decoders that call back into
the student's code) are not served: an answer that calls one in grading gets a
``NameError`` for it.

    python -m autograder.served        # frames on stdin, replies on stdout
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from autograder import wire
from autograder.kernels import InfrastructureError
from autograder.remote import Deadline
from autograder.text import tail

REPO = Path(__file__).resolve().parent.parent
#: chapter -> the course helpers its answers may call in grading (all in ``rnncourse``'s namespace)
SERVED: dict[str, frozenset[str]] = {
    "01_rnn": frozenset({"one_hot"}),
    "02_bptt": frozenset({"rnn_step", "rnn_forward", "softmax", "cross_entropy", "one_hot", "relative_error"}),
    "03_clipping": frozenset({"rnn_forward"}),
}
#: address space the helper process may add to what it holds once the course is imported
MEMORY = 2 * 2**30
#: raw bytes of the arrays in one call's arguments, and in its result
MAX_ARGUMENT_BYTES = MAX_RESULT_BYTES = 16 * 2**20
#: seconds for a fresh helper process to import the course (counted against no student)
START_TIMEOUT = 120.0


class HelperProcess:
    """The grader's handle on one helper child: call a served helper within a deadline."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.chan: wire.Channel | None = None
        self.log = tempfile.TemporaryFile()

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.served"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env, cwd="/")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.chan = wire.Channel(self.proc.stdout.fileno(), self.proc.stdin.fileno())
        try:
            hello, _ = self.chan.recv(timeout=START_TIMEOUT)
        except (TimeoutError, wire.WireError) as err:
            self.close()
            raise InfrastructureError(f"the course-helper process did not start ({err or 'no answer'}): "
                                      f"{self._log_tail()}") from None
        if hello.get("op") != "ready":
            self.close()
            raise InfrastructureError(f"the course-helper process did not start: {self._log_tail()}")

    def _log_tail(self) -> str:
        return tail(self.log)

    def call(self, name: str, args: tuple, kwargs: dict, deadline: float) -> Any:
        """``name(*args, **kwargs)`` in the child; ``TimeoutError`` at ``deadline`` (the child is then killed)."""
        bufs: list[bytes] = []
        header = {"op": "call", "name": name, "args": wire.encode(list(args), bufs),
                  "kwargs": wire.encode(dict(kwargs), bufs)}
        size = sum(len(b) for b in bufs)
        if size > MAX_ARGUMENT_BYTES:
            raise ValueError(f"{name} was called with {size / 2**20:.1f} MiB of arrays; in grading the course's "
                             f"helpers take at most {MAX_ARGUMENT_BYTES // 2**20} MiB")
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self._start()
        assert self.chan is not None
        try:
            self.chan.send(header, bufs, timeout=deadline - time.monotonic())
            reply, rbufs = self.chan.recv(timeout=deadline - time.monotonic())
        except TimeoutError:
            self.close()
            raise
        except wire.WireError as err:
            tail = self._log_tail()
            self.close()
            if "MemoryError" in tail:
                raise MemoryError(f"{name} ran out of the memory grading gives the course's helpers") from None
            raise InfrastructureError(f"the course-helper process failed during {name} ({err}): {tail}") from None
        if reply.get("op") == "return":
            return wire.decode(reply.get("value"), rbufs)
        raise wire.BUILTIN_ERRORS.get(str(reply.get("ename")), RuntimeError)(str(reply.get("evalue", ""))[:1000])

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = self.chan = None


def served_helpers(chapter: str, helpers: HelperProcess, deadline: Callable[[], float]) -> dict[str, Callable]:
    """The callables a grading session binds in the kernel for ``chapter``: each runs in ``helpers`` within
    the deadline that ``deadline()`` gives at the time of the call."""
    def served(name: str) -> Callable:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return helpers.call(name, args, kwargs, deadline())
            except TimeoutError:
                raise Deadline from None
        call.__name__ = name
        return call

    return {name: served(name) for name in sorted(SERVED.get(chapter, ()))}


def main() -> int:
    chan = wire.Channel(os.dup(0), os.dup(1))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # a helper that prints cannot write on the channel
    import rnncourse

    from autograder.sandbox import address_space_in_use

    names = frozenset().union(*SERVED.values())
    functions = {name: getattr(rnncourse, name) for name in names}
    limit = address_space_in_use() + MEMORY
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    chan.send({"op": "ready"})
    while True:
        try:
            header, bufs = chan.recv()
        except wire.ChannelClosed:
            return 0
        out: list[bytes] = []
        try:
            fn = functions[str(header.get("name"))]
            args = wire.decode(header.get("args"), bufs)
            kwargs = wire.decode(header.get("kwargs"), bufs)
            value = fn(*args, **{str(k): v for k, v in kwargs.items()})
            reply = {"op": "return", "value": wire.encode(value, out)}
            size = sum(len(b) for b in out)
            if size > MAX_RESULT_BYTES:
                raise ValueError(f"{header.get('name')} would return {size / 2**20:.1f} MiB; in grading the course's "
                                 f"helpers return at most {MAX_RESULT_BYTES // 2**20} MiB")
        except Exception as exc:  # noqa: BLE001 - the helper's error goes back to the student's call
            out = []
            reply = {"op": "raise", "ename": type(exc).__name__, "evalue": str(exc)[:1000]}
        chan.send(reply, out)


if __name__ == "__main__":
    raise SystemExit(main())
