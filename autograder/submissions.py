"""Refusing malformed submission files before anything in them is parsed as code.

``inspect_submission`` looks at a submitted file without following links and
returns either a refusal status or the notebook's JSON. Sizes are checked
before anything is read or parsed (``Limits.max_notebook_bytes``,
``Limits.max_cells``, ``Limits.max_cell_chars``, ``Limits.max_code_chars``).
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from autograder.limits import Limits


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def inspect_submission(path: Path, root: Path, expected_name: str | None = None,
                       limits: Limits | None = None) -> tuple[str | None, dict | None]:
    """Check a submitted file without following links; returns ``(refusal status or None, notebook JSON)``.

    Statuses: ``missing``; ``invalid-notebook`` for a symbolic link (never
    followed), a path that resolves outside ``root``, anything but a regular
    file, bytes that are not UTF-8 JSON, a notebook that is not nbformat 4 or
    does not validate against its schema; ``wrong-name`` when the file is not
    named ``expected_name``; ``too-large`` over ``limits.max_notebook_bytes``;
    ``too-many-cells`` over ``limits.max_cells``; ``too-large`` also for a cell
    whose source is longer than ``limits.max_cell_chars`` or code cells longer
    than ``limits.max_code_chars`` together (checked before any source is parsed). Raises
    InfrastructureError when the schema validator itself fails.
    """
    limits = limits or Limits()
    path, root = Path(path), Path(root)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing", None
    except OSError:
        return "invalid-notebook", None
    if stat.S_ISLNK(st.st_mode):
        return "invalid-notebook", None  # a symlink is never followed
    real_root = os.path.realpath(root)
    if not _is_under(os.path.realpath(path), real_root) or not _is_under(os.path.abspath(path), os.path.abspath(root)):
        return "invalid-notebook", None  # a linked folder or '..' leads outside the submissions
    if expected_name is not None and path.name != expected_name:
        return "wrong-name", None
    if not stat.S_ISREG(st.st_mode):
        return "invalid-notebook", None
    if st.st_size > limits.max_notebook_bytes:
        return "too-large", None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return "invalid-notebook", None
            raw = fh.read(limits.max_notebook_bytes + 1)
    except OSError:
        return "invalid-notebook", None
    if len(raw) > limits.max_notebook_bytes:
        return "too-large", None
    if b"\x00" in raw:
        return "invalid-notebook", None  # binary data
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "invalid-notebook", None
    if not isinstance(data, dict) or data.get("nbformat") != 4 or not isinstance(data.get("cells"), list) \
            or type(data.get("nbformat_minor", 0)) is not int:
        return "invalid-notebook", None
    if len(data["cells"]) > limits.max_cells:
        return "too-many-cells", None
    code_chars = 0
    for cell in data["cells"]:  # what grading relies on, checked even where the schema is lenient
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw") \
                or not isinstance(cell.get("id", ""), str):
            return "invalid-notebook", None
        src = cell.get("source", "")
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            return "invalid-notebook", None
        n = len(src) if isinstance(src, str) else sum(map(len, src))
        if cell["cell_type"] == "code":
            code_chars += n
            if n > limits.max_cell_chars or code_chars > limits.max_code_chars:
                return "too-large", None
        if not isinstance(cell.get("metadata", {}), dict):
            return "invalid-notebook", None
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if not isinstance(nbg, dict) or not isinstance(nbg.get("grade_id", ""), str):
            return "invalid-notebook", None
    if not _schema_valid(data):
        return "invalid-notebook", None
    return None, data


def _schema_valid(data: dict) -> bool:
    """nbformat's own validation, after the repairs Jupyter itself makes on load (missing cell ids).

    Only a validation error (or JSON too deep to validate) means the notebook is invalid; any other
    exception is a failure of the validator and raises InfrastructureError.
    """
    import copy

    import jsonschema
    import nbformat

    from autograder.kernels import InfrastructureError

    try:
        nb = copy.deepcopy(data)
        minor = nb.get("nbformat_minor", 0)
        if isinstance(minor, int) and minor >= 5:
            for i, cell in enumerate(nb["cells"]):
                cell.setdefault("id", f"cell-{i}")
        nbformat.validate(nb, version=4)
        return True
    except (nbformat.ValidationError, jsonschema.ValidationError, RecursionError):
        return False
    except Exception as err:  # noqa: BLE001 - whatever else went wrong, it was not the notebook's fault
        raise InfrastructureError(f"the notebook schema check failed: {type(err).__name__}: {err}"[:500]) from err
