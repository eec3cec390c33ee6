"""Isolation of a graded notebook's kernel, and refusal of malformed submission files.

Layers, each tried in the kernel process right after it forks from the
zygote and before any student code runs (see ``describe_layers`` and the
README's grading section):

1. **Scratch directory**: the working directory holds nothing but scratch space.
2. **Mount namespace** (needs root or CAP_SYS_ADMIN): ``solutions/``, the
   submissions folder, the grading output and the git directory are covered
   by empty read-only tmpfs mounts, so they cannot be read even by path.
3. **Network namespace** (same requirement): a new, empty network stack — no
   route anywhere, not even to the host's loopback services.
4. **Unprivileged user** (needs root): the kernel drops to ``nobody`` with
   ``no_new_privs``, so files private to the grader stay unreadable and it
   cannot undo the layers above.
5. **Resource limits** (``setrlimit``, always available): CPU time, address
   space, processes, open files, file size, no core dumps.

Wall-clock limits, output caps and killing the whole process group are
enforced from outside by the grader. Where a layer is unavailable the run says
so at its start.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import stat
from pathlib import Path

from autograder.limits import Limits

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 0x40000
PR_SET_NO_NEW_PRIVS = 38
SANDBOX_UID = SANDBOX_GID = 65534  # nobody / nogroup

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> bool:
    return _libc.unshare(flags) == 0


MS_BIND, MS_MOVE = 4096, 8192


def _expose_interpreter(scratch: Path) -> bool:
    """Keep Python's standard library readable after dropping to ``nobody``.

    When the interpreter lives under a private directory (``/root/.pyenv``),
    cover that directory with an empty tmpfs and bind the interpreter's own
    tree back in: the unprivileged kernel can import the standard library and
    sees nothing else of the private directory.
    """
    import sys

    base = Path(sys.base_prefix).resolve()
    blocked = next((p for p in reversed(base.parents) if p != Path("/") and not os.stat(p).st_mode & 0o001), None)
    if blocked is None:
        return True
    stage = scratch / ".interpreter"
    stage.mkdir()
    if _libc.mount(str(base).encode(), str(stage).encode(), None, MS_BIND | MS_REC, None) != 0:
        return False
    if _libc.mount(b"tmpfs", str(blocked).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0755") != 0:
        return False
    base.mkdir(parents=True, exist_ok=True)
    return _libc.mount(str(stage).encode(), str(base).encode(), None, MS_MOVE, None) == 0


def _hide(path: Path) -> bool:
    if not path.is_dir():
        return True
    opts = b"size=1k,mode=0555"
    return _libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == 0


def enter_sandbox(scratch_dir: Path, limits: Limits, hide: list[Path]) -> dict[str, bool]:
    """Apply every available layer to the current process; returns which ones took effect."""
    active: dict[str, bool] = {}
    os.chdir(scratch_dir)
    active["scratch directory"] = True
    is_root = os.geteuid() == 0
    active["mount namespace"] = False
    active["network namespace"] = False
    if is_root and _unshare(CLONE_NEWNS):
        _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
        exposed = _expose_interpreter(scratch_dir)
        active["mount namespace"] = all(_hide(p) for p in hide) and exposed
    if is_root:
        active["network namespace"] = _unshare(CLONE_NEWNET)
    vm_now = _address_space_in_use()
    for rlim, value in ((resource.RLIMIT_CPU, limits.cpu_seconds),
                        (resource.RLIMIT_AS, vm_now + limits.memory_bytes),
                        (resource.RLIMIT_NOFILE, limits.max_open_files),
                        (resource.RLIMIT_FSIZE, limits.max_file_size),
                        (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(rlim, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with an error instead of killing
    active["resource limits"] = True
    active["unprivileged user"] = False
    if is_root and active["mount namespace"]:  # without the namespace, nobody could not read the stdlib
        try:
            for sub in [scratch_dir, *scratch_dir.iterdir()]:
                if sub.name != ".interpreter":
                    os.chown(sub, SANDBOX_UID, SANDBOX_GID)
            os.setgroups([])
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
            os.setgid(SANDBOX_GID)
            os.setuid(SANDBOX_UID)
            active["unprivileged user"] = True
        except OSError:
            pass
    else:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    return active


def _address_space_in_use() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 2**30


_MEANING = {
    "scratch directory": "the kernel starts in an empty scratch directory",
    "mount namespace": "solutions/, the submissions and the grading output are hidden from student code",
    "network namespace": "student code has no network at all",
    "unprivileged user": "student code runs as 'nobody' and cannot undo the other layers",
    "resource limits": "CPU time, memory, processes, open files and file size are capped",
}


def describe_layers(active: dict[str, bool]) -> list[str]:
    """Human-readable lines: which layers are on, and what is missing where one is off."""
    lines = []
    for layer, meaning in _MEANING.items():
        if active.get(layer):
            lines.append(f"sandbox: {layer}: on — {meaning}")
        else:
            lines.append(f"sandbox: {layer}: UNAVAILABLE on this machine (needs root / user namespaces) — "
                         f"without it, not guaranteed: {meaning}")
    return lines


def inspect_submission(path: Path, root: Path, expected_name: str, limits: Limits) -> tuple[str | None, dict | None]:
    """Check a submitted file without following links; returns ``(refusal status, notebook JSON)``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    if stat.S_ISLNK(st.st_mode):
        return "invalid-notebook", None  # a symlink is never followed
    try:
        real = Path(os.path.realpath(path))
        real.relative_to(Path(os.path.realpath(root)))
    except ValueError:
        return "invalid-notebook", None
    if path.name != expected_name:
        return "wrong-name", None
    if not stat.S_ISREG(st.st_mode):
        return "invalid-notebook", None
    if st.st_size > limits.max_notebook_bytes:
        return "too-large", None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(limits.max_notebook_bytes + 1)
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return "invalid-notebook", None
    if not isinstance(data, dict) or data.get("nbformat") != 4 or not isinstance(data.get("cells"), list):
        return "invalid-notebook", None
    if len(data["cells"]) > limits.max_cells:
        return "too-many-cells", None
    for cell in data["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            return "invalid-notebook", None
        src = cell.get("source", "")
        if isinstance(src, list):
            if not all(isinstance(s, str) for s in src):
                return "invalid-notebook", None
        elif not isinstance(src, str):
            return "invalid-notebook", None
        if not isinstance(cell.get("metadata", {}), dict):
            return "invalid-notebook", None
    return None, data
