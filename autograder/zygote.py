"""The kernel factory: a pre-loaded process that forks one fresh, sealed kernel per notebook.

Started once per grading worker (``python -m autograder.zygote FD PRIVILEGES``) with one end
of a Unix socket pair as its only link to the grader, it imports what every
kernel needs (numpy, torch, the kernel and wire modules) — the slow part of
every notebook's start-up — and then waits for jobs. It never imports the
course's reference package or the hidden checks, and it never runs student
code: each job forks a *keeper* (:func:`autograder.sandbox.launch`) whose
child becomes the kernel, a fresh copy of this pristine interpreter.

Control messages (JSON over the socket pair, one per datagram)::

    grader -> zygote: {"job", "root", "limits", "prelude", "output_limit"} + two descriptors (the kernel's
                      ends of its private pipes, passed with SCM_RIGHTS)
    zygote -> grader: {"job", "pid"}           the keeper's pid (the grader kills it to stop the kernel)
    zygote -> grader: {"job", "exit"}          how the keeper ended
The kernel itself talks to the grader only over its own pipes.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

MAX_CONTROL = 1 << 20
PRELOAD = ["numpy", "torch", "torch.nn", "torch.nn.functional", "math"]


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    import torch

    torch.set_num_threads(1)


def _reap_orphans(keepers: set[int]) -> None:
    """Collect finished orphans and kill any process left that is not a live keeper (the zygote is a subreaper)."""
    from autograder.sandbox import children_of

    for pid in children_of(os.getpid()):
        if pid not in keepers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0 or pid in keepers:
            return


def _start(job: dict, fds: list[int], privileges: str) -> int:
    from autograder import kernel, sandbox, wire
    from autograder.limits import Limits

    limits = Limits(**job["limits"])
    pid = os.fork()
    if pid == 0:
        try:
            read_fd, write_fd = fds
            sandbox.launch((read_fd, write_fd), job["root"], limits,
                           lambda layers: kernel.run(wire.Channel(read_fd, write_fd), job["job"],
                                                     limits.max_output_bytes, job["prelude"], layers),
                           privileges)
        finally:
            os._exit(125)
    for fd in fds:
        os.close(fd)
    return pid


def main() -> int:
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: a kernel's orphans come back here
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the grader
    sock = socket.socket(fileno=int(sys.argv[1]))
    from autograder.sandbox import FULL

    privileges = sys.argv[2] if len(sys.argv) > 2 else FULL
    _preload()
    from autograder import kernel, sandbox, wire  # noqa: F401 - loaded once, used by every kernel

    sock.send(json.dumps({"zygote": "ready", "pid": os.getpid()}).encode())
    keepers: dict[int, tuple[str, int]] = {}  # pidfd -> (job, keeper pid)
    while True:
        ready, _, _ = select.select([sock, *keepers], [], [], 5.0)
        for fd in ready:
            if fd is sock:
                try:
                    data, fds, _, _ = socket.recv_fds(sock, MAX_CONTROL, 2)
                except OSError:
                    data, fds = b"", []
                if not data:
                    for _, pid in keepers.values():
                        os.kill(pid, signal.SIGKILL)
                    return 0
                try:
                    job = json.loads(data)
                    if len(fds) != 2:
                        raise ValueError("a job needs exactly two descriptors")
                    pid = _start(job, fds, privileges)
                except (ValueError, KeyError, TypeError) as err:
                    for extra in fds:
                        os.close(extra)
                    sock.send(json.dumps({"error": str(err)[:300]}).encode())
                    continue
                keepers[os.pidfd_open(pid)] = (job["job"], pid)
                sock.send(json.dumps({"job": job["job"], "pid": pid}).encode())
            else:
                job_id, pid = keepers.pop(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                _reap_orphans({p for _, p in keepers.values()})
                sock.send(json.dumps({"job": job_id, "exit": status}).encode())


if __name__ == "__main__":
    raise SystemExit(main())
