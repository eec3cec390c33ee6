"""Generate the student notebooks in ``chapters/`` from the instructor sources in ``solutions/``.

nbgrader's ``generate_assignment`` does the work: it replaces every
``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by a ``NotImplementedError``
stub, removes the ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` blocks
and records checksums of the locked cells. The result is normalised (no
outputs, stable JSON) so that ``release --check`` can tell whether the
committed ``chapters/`` are up to date.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def assignment_ids(solutions: Path | None = None) -> list[str]:
    """The chapter ids: every ``solutions/<id>/<id>.ipynb``, sorted."""
    solutions = solutions or REPO / "solutions"
    return sorted(p.name for p in solutions.iterdir() if (p / f"{p.name}.ipynb").is_file())


def _nbgrader_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # nbgrader runs `alembic`
    return env


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs and execution counts and fix the kernelspec, so releases are reproducible."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 4
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def generate(ids: list[str], out_dir: Path, solutions: Path | None = None) -> list[Path]:
    """Release ``ids`` from ``solutions`` into ``out_dir/<id>/<id>.ipynb``; returns the paths written."""
    solutions = solutions or REPO / "solutions"
    written = []
    with tempfile.TemporaryDirectory(prefix="rnncourse-release-") as tmp:
        course = Path(tmp)
        for aid in ids:
            (course / "source" / aid).mkdir(parents=True)
            shutil.copy(solutions / aid / f"{aid}.ipynb", course / "source" / aid / f"{aid}.ipynb")
            cmd = [sys.executable, "-m", "nbgrader", "generate_assignment", aid, "--force",
                   f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url=sqlite:///{course}/gradebook.db",
                   "--IncludeHeaderFooter.header=", "--ClearOutput.enabled=True"]
            proc = subprocess.run(cmd, cwd=course, env=_nbgrader_env(), capture_output=True, text=True)
            released = course / "release" / aid / f"{aid}.ipynb"
            if proc.returncode != 0 or not released.exists():
                raise RuntimeError(f"nbgrader could not release {aid}:\n{proc.stdout}\n{proc.stderr}")
            nb = normalise(nbformat.read(released, as_version=4))
            target = out_dir / aid / f"{aid}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
            written.append(target)
    return written


def release(check: bool = False, chapters: Path | None = None) -> int:
    """Regenerate ``chapters/``; with ``check``, only compare and return 1 when anything differs."""
    chapters = chapters or REPO / "chapters"
    ids = assignment_ids()
    if not check:
        for path in generate(ids, chapters):
            print(f"released {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(ids, Path(tmp))
        stale = []
        for path in fresh:
            committed = chapters / path.parent.name / path.name
            if not committed.exists() or committed.read_text(encoding="utf-8") != path.read_text(encoding="utf-8"):
                stale.append(str(committed))
    if stale:
        print("out of date (run `python -m autograder release`):\n  " + "\n  ".join(stale))
        return 1
    print(f"chapters/ is up to date ({len(ids)} notebooks)")
    return 0
