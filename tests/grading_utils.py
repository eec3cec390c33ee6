"""Building submissions for the grading tests from the course's own notebooks."""
from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load(kind: str, aid: str) -> dict:
    return json.loads((REPO / kind / aid / f"{aid}.ipynb").read_text(encoding="utf-8"))


def cell_by_id(nb: dict, grade_id: str) -> dict:
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def with_answer(nb: dict, grade_id: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    cell_by_id(nb, grade_id)["source"] = source
    return nb


def add_cell_after(nb: dict, grade_id: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    idx = nb["cells"].index(cell_by_id(nb, grade_id))
    nb["cells"].insert(idx + 1, {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                                 "execution_count": None})
    return nb


def put(root: Path, student: str, aid: str, nb: dict | str | bytes, name: str | None = None) -> Path:
    folder = root / student / aid
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{aid}.ipynb")
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        path.write_text(nb if isinstance(nb, str) else json.dumps(nb), encoding="utf-8")
    return path


def read_grades(out: Path) -> dict[tuple[str, str, str], tuple[float, str]]:
    with open(out / "grades.csv", encoding="utf-8") as fh:
        return {(r["student_id"], r["assignment_id"], r["grade_id"]): (float(r["points"]), r["status"])
                for r in csv.DictReader(fh)}


def total(grades, student: str, aid: str | None = None) -> float:
    return sum(p for (s, a, _), (p, _) in grades.items() if s == student and (aid is None or a == aid))
