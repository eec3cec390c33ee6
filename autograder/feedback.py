"""Per-notebook feedback pages: scores and each failure's message, never hidden test code or tracebacks."""
from __future__ import annotations

import html
from pathlib import Path

from autograder.notebooks import Assignment
from autograder.results import NotebookResult

_STYLE = """body{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}
.pass{color:#176317}.fail{color:#a11}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}"""


def write(path: Path, result: NotebookResult, assignment: Assignment) -> None:
    """Write the HTML page for one graded notebook."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(result.assignment_id)} — "
             f"{esc(result.student_id)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{esc(result.assignment_id)}: {result.points:g} / {result.max_points:g} points</h1>",
             f"<p>Student: {esc(result.student_id)}. Status: <b>{esc(result.status)}</b>"
             + (f" — {esc(result.detail)}" if result.detail else "") + "</p>",
             "<table><tr><th>test</th><th>points</th><th>result</th></tr>"]
    for t in result.tests:
        parts.append(f"<tr><td>{esc(t.grade_id)}</td><td>{t.points:g} / {t.max_points:g}</td>"
                     f"<td class='{'pass' if t.passed else 'fail'}'>{'passed' if t.passed else 'failed'}"
                     + ("" if t.passed else f": {esc(_clean(t.message))}") + "</td></tr>")
    parts.append("</table>")
    if result.cell_errors:
        parts.append("<h2>Answer cells that raised an error</h2><ul>" + "".join(
            f"<li><b>{esc(k)}</b>: {esc(_clean(v))}</li>" for k, v in result.cell_errors.items()) + "</ul>")
    if result.forbidden:
        parts.append("<h2>Code that was not run</h2><ul>" + "".join(
            f"<li><b>{esc(k)}</b>: {esc(_clean(v))}</li>" for k, v in result.forbidden.items()) + "</ul>")
    if result.dropped_cells:
        parts.append("<h2>Added cells that were not run</h2><ul>" + "".join(
            f"<li>{esc(_clean(v))}</li>" for v in result.dropped_cells) + "</ul>")
    parts.append("<h2>The visible checks</h2>")
    for t in assignment.tests:
        parts.append(f"<h3>{esc(t.grade_id)}</h3><pre>{esc(t.visible)}</pre>")
    parts.append("<p>Hidden checks also ran on inputs not shown here; their messages appear in the table.</p>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def _clean(message: str) -> str:
    """Keep a failure's message to its first lines; tracebacks never reach this point."""
    lines = [ln for ln in str(message).splitlines() if ln.strip()]
    return " ".join(lines[:6])[:1500]
