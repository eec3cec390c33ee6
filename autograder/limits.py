"""Resource limits for one graded notebook (configurable from the command line)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    """What one notebook's kernel may use. A correct solution of every chapter stays well inside."""

    cell_timeout: float = 120.0  # wall-clock seconds for one cell
    notebook_timeout: float = 600.0  # wall-clock seconds for the whole notebook
    cpu_seconds: int = 900  # CPU time of the kernel process (RLIMIT_CPU)
    memory_bytes: int = 4 * 2**30  # address space the kernel may add after start-up (RLIMIT_AS)
    max_processes: int = 256  # processes and threads of the sandbox user (RLIMIT_NPROC)
    max_open_files: int = 256  # open file descriptors (RLIMIT_NOFILE)
    max_file_size: int = 64 * 2**20  # largest file the kernel may write (RLIMIT_FSIZE)
    max_output_bytes: int = 1 * 2**20  # stdout/stderr kept per cell; the rest is dropped
    max_notebook_bytes: int = 20 * 2**20  # larger submissions are refused as too-large
    max_cells: int = 2000  # notebooks with more cells are refused as too-many-cells
