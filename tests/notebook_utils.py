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


def execute_all(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Execute every cell (also those tagged skip-execution) in a fresh kernel, keeping errors as outputs."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            skip_cells_with_tag="__run-everything__",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


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
