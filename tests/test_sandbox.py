"""The kernel sandbox, layer by layer, probed from inside a real kernel; and the refusal of malformed files.

Each probe is student code: it is executed in a kernel forked from the real
zygote, exactly as grading runs answers, and reports what it saw through a
function the test calls over the notebook's channel. A layer the machine
cannot provide is skipped with the reason the kernel recorded.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from autograder.kernels import KernelGone, Zygote
from autograder.limits import Limits
from autograder.remote import Deadline, Session
from autograder.sandbox import AS_USER, FULL, LAYERS, describe_layers, layer_on, python_paths, sandbox_uid
from autograder.source_rules import prelude
from autograder.submissions import inspect_submission
from tests.notebook_utils import REPO

SECRET = REPO / "solutions" / "01_rnn" / "01_rnn.ipynb"


@pytest.fixture(scope="module", params=["grader's own privileges", "as an ordinary user"])
def zygote(request):
    """The kernel factory as the grader starts it, and as an ordinary user's grader would get it."""
    z = Zygote(AS_USER if request.param == "as an ordinary user" else FULL)
    z.start()
    yield z
    z.close()


class Kernel:
    """A kernel with a session, as the engine holds one."""

    def __init__(self, zygote: Zygote, **limits) -> None:
        self.process = zygote.spawn(Limits(**limits), prelude("04_lstm"))
        self.session = Session(self.process, time.monotonic() + 120)
        self.layers = self.session.wait_ready()["layers"]

    def run(self, code: str, timeout: float = 30) -> dict:
        self.session.deadline = time.monotonic() + timeout
        return self.session.exec(code)

    def probe(self, code: str, timeout: float = 30):
        """Define ``probe()`` in the kernel with ``code`` as its body and return what it returns."""
        body = "\n".join("    " + line for line in code.splitlines())
        outcome = self.run("def probe():\n" + body + "\n")
        assert not outcome["error"], outcome
        self.session.deadline = time.monotonic() + timeout
        return self.session.proxy("probe")()

    def close(self) -> None:
        self.process.kill()


@pytest.fixture()
def kernel(zygote):
    k = Kernel(zygote)
    yield k
    k.close()


def need(kernel: Kernel, layer: str) -> None:
    if not layer_on(kernel.layers, layer):
        pytest.skip(f"{layer} is unavailable here: {kernel.layers[layer]['detail']}")


def test_every_layer_is_reported_on_or_unavailable(kernel):
    assert set(kernel.layers) == set(LAYERS)
    lines = describe_layers(kernel.layers)
    assert len(lines) == len(LAYERS)
    for line, name in zip(lines, LAYERS):
        assert line.startswith(f"sandbox: {name}: on") or f"sandbox: {name}: UNAVAILABLE (" in line


def test_the_kernel_holds_no_descriptor_but_its_channel(kernel):
    fds = kernel.probe("import os\nreturn sorted(int(f) for f in os.listdir('/proc/self/fd'))")
    assert len([fd for fd in fds if fd > 2]) <= 3  # the channel's two pipes and the listing itself


def test_the_filesystem_holds_only_the_allowlist(kernel):
    need(kernel, "filesystem allowlist")
    bound = python_paths()
    seen = kernel.probe(f"""import os
paths = {[str(SECRET), str(REPO / 'rnncourse'), str(REPO / 'autograder'), str(REPO / 'README.md'),
          '/etc/passwd', '/var']}
found = {{p: os.path.exists(p) for p in paths}}
found['repository'] = sorted(set(os.listdir({str(REPO)!r})) - {{'.venv'}}) if os.path.exists({str(REPO)!r}) else []
# /home, /opt, /root: nothing but the folders that lead to a bound site-packages or interpreter
bound = {bound!r}
found['outside the bound folders'] = []
for top in ('/home', '/opt', '/root', '/srv', '/mnt'):
    for folder, subdirs, files in os.walk(top):
        subdirs[:] = [d for d in subdirs if os.path.join(folder, d) not in bound]
        found['outside the bound folders'] += [os.path.join(folder, f) for f in files]
        found['outside the bound folders'] += [os.path.join(folder, d) for d in subdirs
                                               if not any(b.startswith(os.path.join(folder, d) + '/') for b in bound)]
try:
    import rnncourse
    found['import rnncourse'] = True
except ImportError:
    found['import rnncourse'] = False
found['cwd'] = os.getcwd()
found['numpy'] = os.path.exists(np.__file__)
return found""")
    assert seen.pop("cwd") == "/tmp" and seen.pop("numpy") is True
    assert not any(seen.values()), seen


def test_no_network(kernel):
    need(kernel, "network namespace")
    errors = kernel.probe("""import socket
out = []
for host in ('127.0.0.1', '10.0.0.1'):
    try:
        socket.create_connection((host, 9), timeout=1)
        out.append('connected')
    except OSError as err:
        out.append(type(err).__name__)
return out""")
    assert "connected" not in errors


def test_the_kernel_holds_no_capability(kernel):
    """Root's kernels change to a uid of their own; an ordinary user's give up what their user namespace lent them."""
    status = kernel.probe("return open('/proc/self/status').read()")
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in status.splitlines() if line.startswith("Cap")}
    assert caps["CapEff"] == 0 and caps["CapPrm"] == 0, caps


def test_each_kernel_has_its_own_user_and_cannot_signal_another(zygote):
    first, second = Kernel(zygote), Kernel(Zygote())
    try:
        need(first, "unprivileged user")
        assert first.probe("import os\nreturn os.getuid()") == sandbox_uid(first.process.pid)
        target = second.probe("import os\nreturn os.getpid()")
        assert first.probe(f"import os\ntry:\n    os.kill(-1, 9)\n    os.kill({second.process.pid}, 9)\n"
                           "    return 'sent'\nexcept OSError as e:\n    return type(e).__name__") in \
            ("PermissionError", "ProcessLookupError", "sent")
        assert second.probe("return 41 + 1") == 42 and target > 0  # the other kernel is alive
    finally:
        first.close()
        second.close()
        second.process.zygote.close()


def test_processes_started_by_the_kernel_die_with_it(zygote):
    k = Kernel(zygote)
    need(k, "process containment")
    uid = sandbox_uid(k.process.pid)
    outcome = k.run("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n"
                    "        if os.fork() == 0:\n            time.sleep(600)\n        os._exit(0)\n")
    assert not outcome["error"], outcome
    k.close()
    time.sleep(0.5)
    assert not _processes_of_user(uid)


def test_setrlimit_caps_files_memory_and_processes(zygote):
    k = Kernel(zygote, max_file_size=2**20, memory_bytes=512 * 2**20, max_scratch_bytes=4 * 2**20)
    try:
        need(k, "resource limits")
        seen = k.probe("""import os
out = {}
try:
    open('/tmp/big', 'wb').write(b'0' * 2 * 2**20)
    out['file'] = 'written'
except OSError as e:
    out['file'] = type(e).__name__
try:
    hog = bytearray(2**30)
    out['memory'] = 'allocated'
except MemoryError:
    out['memory'] = 'MemoryError'
return out""")
        assert seen == {"file": "OSError", "memory": "MemoryError"}
        assert k.probe("return 1 + 1") == 2  # the kernel survives both
    finally:
        k.close()


def test_an_infinite_loop_is_a_deadline_and_a_kill(zygote):
    k = Kernel(zygote)
    with pytest.raises(Deadline):
        k.run("while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass\n", timeout=1)
    k.close()


def test_a_forged_message_ends_that_kernel_alone(zygote):
    k = Kernel(zygote)
    forged = ("import os, json, struct\n"
              "head = json.dumps({'op': 'done', 'error': False, 'ename': '', 'evalue': '', 'stdout': '',"
              " 'stderr': '', 'job': 'x', 'seq': 99, 'bufs': []}).encode()\n"
              "body = struct.pack('>I', len(head)) + head\n"
              "for fd in range(3, 10):\n    try:\n        os.write(fd, struct.pack('>I', len(body)) + body)\n"
              "    except OSError:\n        pass\n")
    with pytest.raises(KernelGone):
        k.run(forged)
        k.run("x = 1")
    k.close()
    fresh = Kernel(zygote)
    assert fresh.probe("return 'fine'") == "fine"
    fresh.close()


def _processes_of_user(uid: int) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status", "rb") as fh:
                    fields = dict(line.split(b":", 1) for line in fh.read().splitlines() if b":" in line)
                if int(fields[b"Uid"].split()[0]) == uid and fields[b"State"].split()[0] != b"Z":
                    pids.append(int(entry.name))
            except (OSError, KeyError, ValueError, IndexError):
                pass
    return pids


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
    not_schema = json.loads(_nb())
    not_schema["cells"][0]["outputs"] = "none"
    cases = {
        "invalid-notebook": [b"{not json", b"\x00\x01\x02\xff" * 100, _nb(nbformat=3).encode(),
                             json.dumps([1, 2]).encode(),
                             json.dumps({"nbformat": 4, "cells": [{"cell_type": 7}]}).encode(),
                             json.dumps(not_schema).encode(), "{\"nbformat\": 4, \"cells\": []}".encode("utf-16"),
                             b"[" * 100_000 + b"]" * 100_000, _nb().encode()[:-1] + b"\x00}"],
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
    os.mkfifo(p)  # a FIFO would block a reader forever
    assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == "invalid-notebook"
    p.unlink()
    (tmp_path / "elsewhere" / "01_rnn").mkdir(parents=True)
    (tmp_path / "elsewhere" / "01_rnn" / "01_rnn.ipynb").write_text(_nb())
    os.symlink(tmp_path / "elsewhere", root / "linked")  # a linked student folder
    assert inspect_submission(root / "linked" / "01_rnn" / "01_rnn.ipynb", root, "01_rnn.ipynb")[0] == \
        "invalid-notebook"
    dotdot = root / "s" / ".." / ".." / "elsewhere" / "01_rnn" / "01_rnn.ipynb"
    assert inspect_submission(dotdot, root, "01_rnn.ipynb")[0] == "invalid-notebook"
    (d / "homework.ipynb").write_text(_nb())
    assert inspect_submission(d / "homework.ipynb", root, "01_rnn.ipynb", limits)[0] == "wrong-name"
    assert inspect_submission(p, root, "01_rnn.ipynb", limits)[0] == "missing"


def test_the_course_notebooks_are_accepted():
    for kind in ("solutions", "chapters"):
        for path in sorted((REPO / kind).glob("*/*.ipynb")):
            status, nb = inspect_submission(path, REPO / kind, path.name)
            assert status is None and nb["cells"], path


