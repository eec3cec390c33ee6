"""Resource limits for one graded notebook (each field is a command-line option of ``grade``/``validate``).

Measured on the course's own solutions (2-core machine, kernels forked from
the pre-loaded zygote): the slowest notebook (06_language_model) runs in about
11 s of wall-clock time, its slowest cell in under 5 s; every notebook's
address space grows by less than 400 MiB over the zygote's (about 700 MiB,
most of it torch's reserved but untouched virtual memory); at most 2 threads;
a handful of open files; no file written. The defaults leave a factor of 5 or
more on every one of these.

Memory is capped with ``RLIMIT_AS`` *relative to the kernel's address space
when it starts*: an absolute cap would have to guess how much virtual memory
torch reserves at import, while the relative one counts only what student code
and the checks add. Over the limit, an allocation fails with ``MemoryError``
(or torch's ``RuntimeError``) inside the cell that asked for it, so only that
exercise fails — a memory cgroup would instead kill the whole kernel.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

MiB = 2**20
GiB = 2**30


def _limit(default, help: str):  # noqa: A002 - the command-line option's help text
    return field(default=default, metadata={"help": help})


@dataclass
class Limits:
    """What one notebook's kernel may use. A correct solution of every chapter stays well inside."""

    cell_timeout: float = _limit(60.0, "wall-clock seconds for one cell or one test's check; then the kernel is "
                                       "killed (status timeout)")
    notebook_timeout: float = _limit(300.0, "wall-clock seconds for the whole notebook, cells and checks together")
    cpu_seconds: int = _limit(600, "CPU seconds of the kernel process (RLIMIT_CPU; SIGKILL past it)")
    memory_bytes: int = _limit(2 * GiB, "address space the kernel may add to what it has at start (RLIMIT_AS)")
    max_processes: int = _limit(128, "processes and threads of the kernel's own user id (RLIMIT_NPROC; root only)")
    max_open_files: int = _limit(256, "open file descriptors of the kernel (RLIMIT_NOFILE)")
    max_file_size: int = _limit(64 * MiB, "largest file the kernel may write (RLIMIT_FSIZE; the write fails)")
    max_scratch_bytes: int = _limit(256 * MiB, "all files the kernel writes together (size of its private /tmp)")
    max_output_bytes: int = _limit(1 * MiB, "characters of stdout and of stderr kept per cell or call")
    max_notebook_bytes: int = _limit(20 * MiB, "larger submitted files are refused unread (status too-large)")
    max_cells: int = _limit(2000, "submitted notebooks with more cells are refused (status too-many-cells)")
    max_cell_chars: int = _limit(200_000, "a code cell with a longer source is refused before parsing "
                                          "(status too-large)")
    max_code_chars: int = _limit(2_000_000, "code cells longer than this together are refused before parsing "
                                            "(status too-large)")
    max_message_chars: int = _limit(2000, "characters of a failure message kept in results and feedback")


def limit_help(name: str) -> str:
    """The help text of the ``Limits`` field ``name`` (the command-line options are made from these)."""
    return {f.name: f.metadata["help"] for f in fields(Limits)}[name]
