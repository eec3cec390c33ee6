"""The kernel's sandbox: how a notebook's kernel process is started, sealed and contained.

``launch`` runs in a process freshly forked from the zygote (the *keeper*)
before any student code exists in it, and never returns. It applies these
layers, each tried on its own and its outcome recorded (``describe_layers``
turns the record into the lines every grading run prints):

1. **private channel** — every inherited descriptor is closed except the
   notebook's own two pipes; stdin, stdout and stderr are ``/dev/null``.
2. **process containment** (namespaces) — the kernel is process 1 of a PID
   namespace of its own, so when it dies every process it started dies with it
   (``setsid`` or double forks do not help), and it sees no other process; the
   kernel and the keeper carry ``PR_SET_PDEATHSIG``, so killing the keeper (what
   the grader does) or the zygote ends the kernel. Without namespaces: a session
   of its own, and the zygote (a child subreaper) kills whatever is left after
   each notebook.
3. **filesystem allowlist** (namespaces) — a mount namespace whose root is a fresh
   tmpfs holding only the system libraries (``/usr``, ``/lib*``), the
   interpreter, the virtual environment's site-packages (read-only), a few
   devices, a ``/proc`` of the kernel's own namespace and a private ``/tmp``
   (its working directory, a tmpfs of ``--max-scratch-bytes``). The course
   repository, ``rnncourse``, ``autograder``, ``solutions/``, the other
   submissions, the grading output and every home directory are absent.
4. **network namespace** (namespaces) — no interface but a loopback that is down.
5. **resource limits** — CPU time, address space, processes, open files, file
   size, no core dumps.
6. **unprivileged user** (root) — uid = gid = ``SANDBOX_UID_BASE`` + the
   keeper's pid: an id of its own per kernel, with no account, no groups and
   no capabilities, so kernels cannot signal each other or share a process
   limit.
7. **no_new_privs** — no set-uid program can give privileges back.
8. **system-call filter** (seccomp, x86-64) — no new namespaces, mounts,
   ptrace, keyrings, BPF, io_uring or module loading.

"Namespaces" are root's, or, for a grader that runs as an ordinary user, those
of a user namespace of its own (where the system allows them, as Debian and
most distributions do): the grader's uid and gid are mapped to themselves, the
keeper builds the same namespaces and root inside it, and the kernel then
gives up every capability it held there. Only layer 6 needs root itself.

None of this is what keeps grades honest: the verdicts are decided outside
the kernel (autograder/remote.py). The sandbox keeps student code from
harming the machine, the grader and the other students.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import resource
import signal
import site
import struct
import sys
from pathlib import Path
from typing import Callable

from autograder.limits import Limits

REPO = Path(__file__).resolve().parent.parent

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 38, 39, 22
PR_SET_CHILD_SUBREAPER = 36

#: a kernel runs as uid = gid = SANDBOX_UID_BASE + its keeper's pid: unique among the kernels alive at one time
SANDBOX_UID_BASE = 100_000
#: system folders bound read-only into the kernel's root (symbolic links among them are recreated as links)
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
#: device files bound into the kernel's /dev
DEVICES = ("null", "zero", "full", "random", "urandom")

#: the layers, in the order they are applied, and what each one guarantees when it is on
LAYERS = {
    "private channel": "the kernel holds its own two pipes and nothing else the grader or other kernels use",
    "process containment": "every process the kernel starts dies with it; it sees no process but its own",
    "filesystem allowlist": "the kernel's root holds only system libraries, the interpreter, site-packages and a "
                            "private /tmp with a size quota: the repository, solutions/, the other submissions, "
                            "the grading output and home directories are absent",
    "network namespace": "no network at all: no interface but a loopback that is down",
    "resource limits": "CPU time, memory, processes, open files and file size are capped; no core dumps",
    "unprivileged user": "each kernel runs as a user id of its own: it cannot signal other kernels, share their "
                         "process limit, or undo its sandbox",
    "no_new_privs": "no set-uid program can give privileges back",
    "system-call filter": "no new namespaces, mounts, ptrace, keyrings, BPF, io_uring or kernel modules",
}
#: what is lost where a layer is not available
_WITHOUT = {
    "private channel": "the kernel could reach descriptors it should not hold",
    "process containment": "a process that leaves the kernel's session lives until the zygote's clean-up after "
                           "the notebook",
    "filesystem allowlist": "student code can read every file the kernel's user may read (solutions/ and other "
                            "submissions included); the verdicts stay outside the kernel all the same",
    "network namespace": "student code may open network connections",
    "resource limits": "only the wall-clock limits stop a runaway notebook; memory and disk are not capped",
    "unprivileged user": "kernels run as the grader's user: they share its process limit and, without process "
                         "containment, can signal each other and the grader's processes",
    "no_new_privs": "a set-uid program could raise the kernel's privileges",
    "system-call filter": "the kernel's namespace, mount and debugging interfaces stay reachable",
}

#: how much of the grader's own privilege the kernels' sandbox uses (``Zygote(privileges=…)``): ``FULL`` is every
#: layer the grader's user can build (root's, or an ordinary user's in user namespaces); the tests ask for
#: ``AS_USER`` (root builds the sandbox as an ordinary user's grader would, in a user namespace and without a
#: change of user) and ``WITHOUT_NAMESPACES`` (as on a system that forbids user namespaces)
FULL, AS_USER, WITHOUT_NAMESPACES = "full", "as-user", "without-namespaces"
PRIVILEGES = (FULL, AS_USER, WITHOUT_NAMESPACES)
#: the prefix of environment variables that once changed the sandbox (``RNNCOURSE_SANDBOX_AS_USER``): a grader
#: started with any of them set refuses to run
WEAKENING_PREFIX = "RNNCOURSE_SANDBOX"


def weakening_variables(environ: dict | None = None) -> list[str]:
    """The variables named ``WEAKENING_PREFIX…`` set in ``environ``."""
    environ = os.environ if environ is None else environ
    return sorted(k for k in environ if k.startswith(WEAKENING_PREFIX))


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.chroot.argtypes = [ctypes.c_char_p]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _LayerFailed(Exception):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise _LayerFailed(f"{what}: {os.strerror(err)} (errno {errno.errorcode.get(err, err)})")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                       data.encode() if data else None), f"mount {target}")


def sandbox_uid(keeper_pid: int) -> int:
    """The user (and group) id of the kernel whose keeper has this pid, once it has dropped its privileges."""
    return SANDBOX_UID_BASE + keeper_pid


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def python_paths() -> list[str]:
    """What the kernel needs of Python: the interpreter's installation and the site-packages folders.

    The repository is not among them, even where the virtual environment lives
    inside it: only its site-packages folder is bound. A folder reached through
    a symbolic link is listed under both names, since the kernel imports by the
    name on ``sys.path``.
    """
    repo = os.path.realpath(REPO)
    venv = os.path.realpath(sys.prefix)
    found = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix)}
    for entry in [*sys.path, *site.getsitepackages()]:
        if entry and os.path.isabs(entry) and os.path.isdir(entry):
            real = os.path.realpath(entry)
            if _is_under(real, repo) and not (_is_under(real, venv) and real != venv):
                continue  # the repository itself, or anything in it but the venv's site-packages
            if os.path.basename(real) in ("site-packages", "dist-packages") or \
                    _is_under(real, os.path.realpath(sys.base_prefix)):
                found.add(real)
                # reached through a symlink (a .venv that links elsewhere): the kernel's sys.path names the
                # link, so the folder is bound at that path as well
                found.add(os.path.normpath(entry))
    found = {p for p in found if p != "/" and not _is_under(p, "/usr")}  # /usr is bound as a system path
    return sorted(p for p in found if not any(q != p and _is_under(p, q) for q in found))


def _close_other_fds(keep: set[int]) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd not in keep:
            os.dup2(devnull, fd)
    top = max([*keep, 2, devnull]) + 1
    start = 3
    for fd in sorted(keep | {top}):
        if fd >= start:
            os.closerange(start, fd)
            start = fd + 1
    try:
        os.closerange(start, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    except (ValueError, OSError):
        os.closerange(start, 65536)


def _pdeathsig() -> None:
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def _seccomp_filter() -> bytes:
    """A classic-BPF program for x86-64: fail the dangerous system calls with EPERM, allow the rest."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, err = 0x7FFF0000, 0x00050000

    def ins(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    denied = [101, 310, 311, 272, 308, 165, 166, 155, 161, 321, 323, 298, 250, 248, 249, 175, 313, 176, 246, 320,
              304, 303, 425, 426, 427, 428, 429, 430, 431, 432, 433, 442, 167, 168, 169, 163, 179, 170, 171, 164,
              227, 159, 172, 173, 103, 153, 135, 212, 312]
    # ptrace, process_vm_readv/writev, unshare, setns, mount, umount2, pivot_root, chroot, bpf, userfaultfd,
    # perf_event_open, keyctl, add_key, request_key, (f)init/delete_module, kexec_load/file_load,
    # open_by_handle_at, name_to_handle_at, io_uring_*, open_tree, move_mount, fsopen, fsconfig, fsmount,
    # fspick, mount_setattr, swapon/off, reboot, acct, quotactl, sethostname, setdomainname, settimeofday,
    # clock_settime, adjtimex, iopl, ioperm, syslog, vhangup, personality, lookup_dcookie, kcmp
    prog = [ins(ld, 0, 0, 4), ins(jeq, 1, 0, 0xC000003E), ins(ret, 0, 0, err | errno.EPERM),  # other ABIs
            ins(ld, 0, 0, 0), ins(jge, 0, 1, 0x40000000), ins(ret, 0, 0, err | errno.EPERM)]  # x32 ABI
    for nr in denied:
        prog += [ins(jeq, 0, 1, nr), ins(ret, 0, 0, err | errno.EPERM)]
    prog += [ins(jeq, 0, 1, 435), ins(ret, 0, 0, err | errno.ENOSYS)]  # clone3: libc falls back to clone
    namespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
        CLONE_NEWNET
    prog += [ins(jeq, 0, 3, 56), ins(ld, 0, 0, 16), ins(jset, 0, 1, namespaces), ins(ret, 0, 0, err | errno.EPERM),
             ins(ret, 0, 0, allow)]
    return b"".join(prog)


def _install_seccomp() -> str:
    if platform.machine() != "x86_64":
        raise _LayerFailed(f"the filter is written for x86-64, this machine is {platform.machine()}")
    code = _seccomp_filter()
    buf = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code) // 8, ctypes.addressof(buf))
    _check(_libc.prctl(PR_SET_SECCOMP, 2, ctypes.addressof(prog), 0, 0), "prctl(PR_SET_SECCOMP)")
    return f"{len(code) // 8} instructions"


def _build_root(root: str, limits: Limits, uid: int | None) -> str:
    """A new root for the kernel: a tmpfs with only the allowlisted paths bound in; then chroot into it."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing done here propagates back to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    # the private /tmp first: a virtual environment that lives under /tmp is bound inside it below
    os.makedirs(root + "/tmp", exist_ok=True)
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={max(limits.max_scratch_bytes, 1 << 20)},mode=0700{owner}")
    bound = []
    for path in [*SYSTEM_PATHS, *python_paths()]:
        if not os.path.lexists(path):
            continue
        target = root + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.symlink(os.readlink(path), target)
            continue
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount(path, target, None, MS_BIND | MS_REC)
        _mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        bound.append(path)
    os.makedirs(root + "/dev", exist_ok=True)
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            open(f"{root}/dev/{name}", "a").close()
            _mount("/dev/" + name, f"{root}/dev/{name}", None, MS_BIND)
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount("none", root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _check(_libc.chroot(root.encode()), "chroot")
    os.chdir("/tmp")
    return f"{len(bound)} paths bound read-only ({', '.join(p for p in bound if not p.startswith('/etc'))}); " \
           f"/tmp quota {limits.max_scratch_bytes // 2**20} MiB"


def address_space_in_use() -> int:
    """This process's virtual memory size in bytes (2 GiB where /proc cannot say)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 2 * 2**30


def _rlimits(limits: Limits, per_user: bool) -> str:
    vm_now = address_space_in_use()
    pairs = [(resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, vm_now + limits.memory_bytes),
             (resource.RLIMIT_NOFILE, limits.max_open_files), (resource.RLIMIT_FSIZE, limits.max_file_size),
             (resource.RLIMIT_CORE, 0)]
    if per_user:  # the count is per user id: meaningful only for the kernel's own
        pairs.append((resource.RLIMIT_NPROC, limits.max_processes))
    for rlim, value in pairs:
        resource.setrlimit(rlim, (int(value), int(value)))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with an error, not a kill
    return (f"cpu {limits.cpu_seconds} s, address space {vm_now // 2**20} + {limits.memory_bytes // 2**20} MiB, "
            f"{limits.max_processes if per_user else 'uncapped'} processes, {limits.max_open_files} files, "
            f"files up to {limits.max_file_size // 2**20} MiB, no core dumps")


def _drop_user(uid: int) -> str:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise _LayerFailed("the user id did not change")
    try:
        os.setuid(0)
    except PermissionError:
        return f"uid = gid = {uid}, no supplementary groups, no capabilities"
    raise _LayerFailed("root could be regained")


def _unshare_as_user(flags: int) -> tuple[int, str]:
    """An ordinary user's way to ``flags``: a user namespace of its own, in which the keeper may build them.

    The grader's uid and gid are mapped to themselves, so files keep their owners.
    Returns the namespace flags obtained (0 for none) and, when none, why.
    """
    uid, gid = os.geteuid(), os.getegid()
    for flag in (flags, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS, CLONE_NEWNS):
        if _libc.unshare(CLONE_NEWUSER | flag) == 0:
            break
    else:
        return 0, f"the system refuses user namespaces ({os.strerror(ctypes.get_errno())})"
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
    except OSError as err:
        return 0, f"the user namespace's ids could not be mapped ({err})"
    return flag, ""


def _drop_capabilities() -> str:
    """Give up every capability (those a user namespace's creator holds in it); none can come back."""
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), data), "capset")
    for line in Path("/proc/self/status").read_text().splitlines() if os.path.exists("/proc/self/status") else []:
        if line.startswith(("CapEff:", "CapPrm:")) and int(line.split()[1], 16) != 0:
            raise _LayerFailed(f"capabilities are left: {line}")
    return "no capabilities"


def _no_new_privs() -> str:
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
        raise _LayerFailed("the flag did not stick")
    return "set"


def launch(channel_fds: tuple[int, int], root_dir: str, limits: Limits,
           run_kernel: Callable[[dict], None], privileges: str = FULL) -> None:
    """In a keeper freshly forked from the zygote: start the notebook's kernel in its sandbox; never returns.

    ``channel_fds``: the kernel's ends of its private pipes (read, write);
    ``root_dir``: an empty folder that becomes the kernel's root (root only);
    ``run_kernel(layers)``: called in the sealed kernel process;
    ``privileges``: one of ``PRIVILEGES``.
    The keeper exits with the kernel's exit code, or 128 + the signal that killed it.
    """
    layers: dict[str, dict] = {}

    def attempt(name: str, fn: Callable[[], str]) -> bool:
        try:
            layers[name] = {"on": True, "detail": fn() or ""}
        except (_LayerFailed, OSError, ValueError) as err:
            layers[name] = {"on": False, "detail": str(err)[:300]}
        return layers[name]["on"]

    try:
        _close_other_fds(set(channel_fds))
        layers["private channel"] = {"on": True, "detail": "every other descriptor closed"}
        _pdeathsig()  # the keeper dies with the zygote
        os.setsid()
        is_root = os.geteuid() == 0 and privileges == FULL
        uid = sandbox_uid(os.getpid()) if is_root else None
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
        unshared, why_not = 0, "needs root or user namespaces"
        if is_root:
            for flag in (flags, CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS, CLONE_NEWNS):
                if _libc.unshare(flag) == 0:
                    unshared = flag
                    break
            else:
                why_not = f"unshare failed ({os.strerror(ctypes.get_errno())}): the grader runs without CAP_SYS_ADMIN"
        else:
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            if privileges == WITHOUT_NAMESPACES:
                why_not = f"needs root (the grader runs as uid {os.geteuid()}) or user namespaces (switched off)"
            else:
                unshared, reason = _unshare_as_user(flags)
                why_not = f"needs root (the grader runs as uid {os.geteuid()}) or user namespaces: {reason}"
        kernel = os.fork()
        if kernel == 0:
            _kernel_side(channel_fds, root_dir, limits, run_kernel, layers, attempt, uid, unshared, why_not)
        for fd in channel_fds:
            os.close(fd)
        _, status = os.waitpid(kernel, 0)
        if not unshared & CLONE_NEWPID:
            _kill_descendants()
        os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    finally:
        os._exit(125)


def _kernel_side(channel_fds, root_dir, limits, run_kernel, layers, attempt, uid, unshared, why_not) -> None:
    try:
        _pdeathsig()  # the kernel dies with its keeper (the grader kills the keeper)
        is_root = uid is not None

        def need(flag: int, what: str) -> None:
            if not unshared:
                raise _LayerFailed(why_not)
            if not unshared & flag:
                raise _LayerFailed(f"unshare({what}) failed")

        def own_user() -> str:
            if not is_root:
                # whatever a user namespace lent the keeper, the kernel gives up (a no-op where none was made)
                raise _LayerFailed(f"needs root (the grader runs as uid {os.geteuid()}); the kernel keeps the "
                                   f"grader's uid, with {_drop_capabilities()}")
            return _drop_user(uid)

        def contain() -> str:
            need(CLONE_NEWPID, "CLONE_NEWPID")
            return "process 1 of its own PID namespace; parent-death signal on kernel and keeper"

        attempt("process containment", contain)
        attempt("filesystem allowlist", lambda: (need(CLONE_NEWNS, "CLONE_NEWNS"),
                                                  _build_root(root_dir, limits, uid))[1])
        attempt("network namespace", lambda: (need(CLONE_NEWNET, "CLONE_NEWNET"), "loopback only, down")[1])
        attempt("resource limits", lambda: _rlimits(limits, per_user=is_root))
        attempt("unprivileged user", own_user)
        _pdeathsig()  # a change of credentials clears the parent-death signal: set it again
        attempt("no_new_privs", _no_new_privs)
        attempt("system-call filter", lambda: (_need(layers, "no_new_privs"), _install_seccomp())[1])
        if not layers["filesystem allowlist"]["on"]:
            os.chdir("/")
        run_kernel(layers)
    finally:
        os._exit(0)


def _need(layers: dict, name: str) -> None:
    if not layers.get(name, {}).get("on"):
        raise _LayerFailed(f"needs {name}")


def _kill_descendants() -> None:
    """Without a PID namespace: kill every process that was reparented to this keeper (a subreaper)."""
    me = os.getpid()
    for _ in range(100):
        children = children_of(me)
        if not children:
            break
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def children_of(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                if int(fields[1]) == parent and fields[0] != b"Z":
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


def layer_on(layers: dict, name: str) -> bool:
    """Whether ``name`` took effect in a kernel's record of its layers."""
    entry = layers.get(name)
    return bool(entry.get("on")) if isinstance(entry, dict) else False


def describe_layers(layers: dict) -> list[str]:
    """Human-readable lines: which layers are on, and what is not guaranteed where one is off."""
    lines = []
    for name, meaning in LAYERS.items():
        entry = layers.get(name)
        detail = str(entry.get("detail", "")) if isinstance(entry, dict) else ""
        if layer_on(layers, name):
            lines.append(f"sandbox: {name}: on — {meaning}" + (f" [{detail}]" if detail else ""))
        else:
            lines.append(f"sandbox: {name}: UNAVAILABLE ({detail or 'not tried'}) — {_WITHOUT[name]}")
    return lines
