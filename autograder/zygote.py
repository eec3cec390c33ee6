"""The kernel side of grading: a pre-loaded process that forks one fresh child per notebook.

Started once per worker (``python -m autograder.zygote``), it imports numpy,
torch, matplotlib, IPython and the hidden-check library — the slow part of
every notebook's start-up — and then waits for jobs. For each notebook it
forks a child: a fresh copy of that pristine, pre-loaded interpreter in which
no student code has ever run. The child enters the sandbox, then executes the
cells the grader sends it one at a time (so later cells, hidden tests
included, are never in its memory before they run) and answers each with its
outcome. The zygote waits for the child and reports how it ended.

Protocol: newline-delimited JSON on stdin/stdout. Grader → zygote: a job
``{"scratch", "limits", "hide"}``; zygote → grader: ``{"child": pid}``; child →
grader: ``{"ready", "layers"}``; grader → child: ``{"source"}`` … ``{"done": true}``;
child → grader: ``{"error", "ename", "evalue", "stdout", "stderr"}`` per cell;
zygote → grader: ``{"exit": status}`` when the child has gone.
"""
from __future__ import annotations

import io
import json
import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _preload() -> None:
    import importlib

    for name in ["numpy", "torch", "torch.nn", "torch.nn.functional", "matplotlib", "matplotlib.pyplot",
                 "IPython.core.interactiveshell", "matplotlib_inline.backend_inline", "ipywidgets", "tqdm.auto",
                 "rnncourse.rnn", "rnncourse.bptt", "rnncourse.clipping", "rnncourse.lstm", "rnncourse.gru",
                 "rnncourse.layers", "rnncourse.lm", "rnncourse.sampling", "rnncourse.generate", "rnncourse.data",
                 "rnncourse.train", "rnncourse.pretrained", "rnncourse.viz",
                 "autograder.checks.ch01_rnn", "autograder.checks.ch02_bptt", "autograder.checks.ch03_clipping",
                 "autograder.checks.ch04_lstm", "autograder.checks.ch05_gru",
                 "autograder.checks.ch06_language_model", "autograder.checks.ch07_sampling",
                 "rnncourse.scenes", "rnncourse.bleu_score", "rnncourse.captioning",
                 "autograder.checks.ch09_captioning"]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module only costs time later
            pass


class _Capped(io.TextIOBase):
    """A text stream that keeps at most ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0
        self.limit = limit

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            s = str(s)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters dropped ...]"
        return text


def _child(job: dict, chan_in, chan_out) -> None:
    from pathlib import Path

    from autograder.limits import Limits
    from autograder.sandbox import enter_sandbox

    limits = Limits(**job["limits"])
    os.environ["HOME"] = job["scratch"]
    os.environ["IPYTHONDIR"] = os.path.join(job["scratch"], ".ipython")
    os.environ["MPLCONFIGDIR"] = os.path.join(job["scratch"], ".mpl")
    layers = enter_sandbox(Path(job["scratch"]), limits, [Path(p) for p in job["hide"]])
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class GradingShell(InteractiveShell):
        def enable_gui(self, gui=None):  # `%matplotlib inline` needs no event loop here
            return None

    config = Config()
    config.HistoryManager.enabled = False
    shell = GradingShell(config=config)
    send = lambda msg: (chan_out.write(json.dumps(msg) + "\n"), chan_out.flush())  # noqa: E731
    send({"ready": True, "layers": layers})
    real_out, real_err = sys.stdout, sys.stderr
    while True:
        line = chan_in.readline()
        if not line:
            break
        msg = json.loads(line)
        if msg.get("done"):
            break
        out, err = _Capped(limits.max_output_bytes), _Capped(limits.max_output_bytes)
        sys.stdout, sys.stderr = out, err
        result = {"error": False, "ename": "", "evalue": ""}
        try:
            res = shell.run_cell(msg["source"], store_history=False, silent=False)
            exc = res.error_in_exec or res.error_before_exec
            if exc is not None:
                result.update(error=True, ename=type(exc).__name__, evalue=str(exc)[:4000])
        except BaseException as exc:  # noqa: BLE001 - SystemExit and friends from student code
            result.update(error=True, ename=type(exc).__name__, evalue=str(exc)[:4000])
        finally:
            sys.stdout, sys.stderr = real_out, real_err
        result["stdout"], result["stderr"] = out.getvalue(), err.getvalue()
        send(result)


def _reap() -> None:
    """Collect every finished orphan (the zygote is their subreaper), so no zombie stays behind."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> int:
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of a notebook come back here
    _preload()
    chan_in = sys.stdin
    chan_out = sys.stdout
    chan_out.write(json.dumps({"zygote": "ready"}) + "\n")
    chan_out.flush()
    while True:
        line = chan_in.readline()
        if not line:
            _reap()
            return 0
        try:
            job = json.loads(line)
        except ValueError:
            continue
        _reap()
        if not isinstance(job, dict) or "scratch" not in job:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                in_fd, out_fd = os.dup(0), os.dup(1)
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)  # C-level output and input() never touch the protocol
                child_in = os.fdopen(in_fd, "r", buffering=1)
                child_out = os.fdopen(out_fd, "w", buffering=1)
                sys.stdin = open(os.devnull)
                _child(job, child_in, child_out)
                child_out.flush()
            finally:
                os._exit(0)
        chan_out.write(json.dumps({"child": pid}) + "\n")
        chan_out.flush()
        _, status = os.waitpid(pid, 0)
        _reap()
        chan_out.write(json.dumps({"exit": status}) + "\n")
        chan_out.flush()


if __name__ == "__main__":
    raise SystemExit(main())
