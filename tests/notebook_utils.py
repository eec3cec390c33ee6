"""Helpers shared by the notebook and book tests."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
IDS = ["01_rnn", "02_bptt", "03_clipping", "04_lstm", "05_gru", "06_language_model", "07_sampling",
       "08_seq2seq_attention", "09_captioning"]


PROBE_MARK = "<<probe>>"


def execute_all(path: Path, timeout: int = 600, probe: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """Execute every cell (also those tagged skip-execution) in a fresh kernel, keeping errors as outputs.

    ``probe`` maps names to Python expressions evaluated in the notebook's namespace
    after its last cell; their values (numbers, strings, lists and dicts of them,
    numpy arrays) come back as ``nb.metadata["probe"]``.
    """
    nb = nbformat.read(path, as_version=4)
    if probe:
        items = ", ".join(f"{name!r}: ({expr})" for name, expr in probe.items())
        nb.cells.append(nbformat.v4.new_code_cell(
            "import json as _json\nimport numpy as _np\n"
            "def _plain(v):\n"
            "    return v.tolist() if hasattr(v, 'tolist') else str(v)\n"
            f"print({PROBE_MARK!r} + _json.dumps({{{items}}}, default=_plain))"))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            skip_cells_with_tag="__run-everything__",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    if probe:
        cell = nb.cells.pop()
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
        if PROBE_MARK not in text:
            raise AssertionError(f"the probe of {path.name} failed: {errors or text}")
        nb.metadata["probe"] = json.loads(text.split(PROBE_MARK, 1)[1])
    return nb


def prose(nb: nbformat.NotebookNode) -> str:
    """Every markdown cell of ``nb``, joined: the text in which quoted numbers must appear."""
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def cell_problems(cell) -> list[tuple[str, str]]:
    """(kind, text) for every error and every stderr output of a code cell."""
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "error":
            out.append((o.ename, o.evalue))
        elif o.output_type == "stream" and o.name == "stderr":
            out.append(("stderr", o.text))
    return out


def grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def secret_lines(min_length: int = 20) -> dict[str, list[str]]:
    """Non-trivial lines of every solution body and hidden-test block, by notebook id."""
    found: dict[str, list[str]] = {}
    for aid in IDS:
        nb = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
        lines = []
        for cell in nb["cells"]:
            src = "".join(cell["source"])
            for begin, end in (("### BEGIN SOLUTION", "### END SOLUTION"),
                               ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")):
                for block in re.findall(re.escape(begin) + r"(.*?)" + re.escape(end), src, flags=re.S):
                    lines += [ln.strip() for ln in block.splitlines() if len(ln.strip()) >= min_length]
        found[aid] = lines
    return found
