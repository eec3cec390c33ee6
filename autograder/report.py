"""``python -m autograder report OUT``: an HTML page of the class's results, with plots."""
from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "<img src='data:image/png;base64," + base64.b64encode(buf.getvalue()).decode() + "'>"


def report(out: Path, log=print) -> int:
    out = Path(out)
    csv_path = out / "grades.csv"
    if not csv_path.exists():
        log(f"error: {csv_path} does not exist; run `python -m autograder grade` first")
        return 2
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    passed: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for r in rows:
        totals[r["assignment_id"]][r["student_id"]] += float(r["points"])
        passed[(r["assignment_id"], r["grade_id"])].append(float(r["points"]) >= float(r["max_points"]) > 0)
    per_assignment_max = defaultdict(float)
    seen = set()
    for r in rows:
        key = (r["assignment_id"], r["grade_id"])
        if key not in seen:
            seen.add(key)
            per_assignment_max[r["assignment_id"]] += float(r["max_points"])
    messages: Counter = Counter()
    for path in (out / ".results").glob("*/*.json"):
        try:
            res = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for gid, e in res.get("tests", {}).items():
            if not e.get("passed") and e.get("message"):
                messages[(res["assignment_id"], gid, e["message"][:160])] += 1
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Grading report</title><style>"
             "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}"
             "td,th{border:1px solid #ccc;padding:.3em}table{border-collapse:collapse}</style></head><body>",
             f"<h1>Grading report</h1><p>{len({r['student_id'] for r in rows})} students, "
             f"{len(totals)} assignments, {len(rows)} graded test cells.</p>"]
    aids = sorted(totals)
    if aids:
        fig, axes = plt.subplots(1, len(aids), figsize=(3.2 * len(aids), 2.8), squeeze=False)
        for ax, aid in zip(axes[0], aids):
            ax.hist(list(totals[aid].values()), bins=10, range=(0, per_assignment_max[aid] or 1))
            ax.set_title(aid, fontsize=9)
            ax.set_xlabel("points")
        axes[0][0].set_ylabel("students")
        fig.tight_layout()
        parts.append("<h2>Score distribution per assignment</h2>" + _png(fig))
        keys = sorted(passed)
        fig, ax = plt.subplots(figsize=(8, 0.25 * len(keys) + 1))
        ax.barh([f"{a} {g}" for a, g in keys], [sum(v) / len(v) for v in (passed[k] for k in keys)])
        ax.set_xlim(0, 1)
        ax.set_xlabel("pass rate")
        ax.invert_yaxis()
        fig.tight_layout()
        parts.append("<h2>Pass rate per test cell</h2>" + _png(fig))
    parts.append("<h2>Most frequent failure messages</h2><table><tr><th>count</th><th>test</th><th>message</th></tr>")
    for (aid, gid, msg), n in messages.most_common(25):
        parts.append(f"<tr><td>{n}</td><td>{html.escape(aid)} {html.escape(gid)}</td><td>{html.escape(msg)}</td></tr>")
    parts.append("</table></body></html>")
    (out / "report.html").write_text("\n".join(parts), encoding="utf-8")
    log(f"wrote {out / 'report.html'}")
    return 0
