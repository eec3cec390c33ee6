"""Time the demos of a chapter: execute its student notebook (exercise cells skipped) as the website does.

    python benchmarks/chapter_time.py 08_seq2seq_attention
    python benchmarks/chapter_time.py 08_seq2seq_attention --solutions   # every cell, the solutions' run

Prints the wall-clock seconds and the CPU seconds of the kernel. Target on a
2-core CPU: at most 180 s per chapter. The CPU time is the fairer figure on a
shared machine, where the wall clock also counts other people's work.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("aid", help="assignment id, e.g. 08_seq2seq_attention")
    parser.add_argument("--solutions", action="store_true", help="run solutions/ with every cell instead of chapters/")
    args = parser.parse_args(argv)
    folder = "solutions" if args.solutions else "chapters"
    path = REPO / folder / args.aid / f"{args.aid}.ipynb"
    nb = nbformat.read(path, as_version=4)
    if not args.solutions:  # what the website runs: exercise and test cells are tagged skip-execution
        nb.cells = [c for c in nb.cells if "skip-execution" not in c.metadata.get("tags", [])]
    nb.cells.append(nbformat.v4.new_code_cell("import resource as _r\n_u = _r.getrusage(_r.RUSAGE_SELF)\n"
                                              "print(_u.ru_utime + _u.ru_stime)"))
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    cpu = float(nb.cells[-1].outputs[0]["text"])
    print(f"{folder}/{args.aid}: {wall:.0f} s wall clock, {cpu:.0f} s CPU in the kernel (target <= 180 s on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
