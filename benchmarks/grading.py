"""Grading throughput: `python -m autograder grade` against plain serial `nbgrader autograde`.

    python benchmarks/grading.py            # N = 50 students, chapter 01_rnn
    python benchmarks/grading.py --n 10 --aid 04_lstm
    python benchmarks/grading.py --scheduler tcp://HOST:PORT --skip-nbgrader   # on a Dask cluster

Makes a class of N students (a third full solutions, a third blank releases, a
third partial: one exercise wrong), grades it with both, checks that both give
every student the same points, and prints notebooks per minute for each, their
ratio, and where the time of one notebook goes in our pipeline.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_class(root: Path, aid: str, n: int) -> dict[str, str]:
    sol = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
    rel = json.loads((REPO / "chapters" / aid / f"{aid}.ipynb").read_text())
    first = next(c for c in rel["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    partial = copy.deepcopy(sol)
    for cell in partial["cells"]:  # the first exercise left as released
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == first["metadata"]["nbgrader"]["grade_id"]:
            cell["source"] = first["source"]
    kinds = {}
    for i in range(n):
        student = f"s{i:03d}"
        nb, kinds[student] = [(sol, "full"), (rel, "blank"), (partial, "partial")][i % 3]
        (root / student / aid).mkdir(parents=True)
        (root / student / aid / f"{aid}.ipynb").write_text(json.dumps(nb))
    return kinds


def ours(subs: Path, out: Path, workers: int, scheduler: str | None = None) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    where = ["--scheduler", scheduler] if scheduler else ["--workers", str(workers)]
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), *where,
                           "--force"], check=True, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    print("  " + next((ln for ln in proc.stdout.splitlines() if "notebooks graded in" in ln), ""))
    points: dict[str, float] = {}
    with open(out / "grades.csv") as fh:
        for row in csv.DictReader(fh):
            points[row["student_id"]] = points.get(row["student_id"], 0.0) + float(row["points"])
    return elapsed, points


def nbgrader(subs: Path, course: Path, aid: str) -> tuple[float, dict[str, float]]:
    (course / "source" / aid).mkdir(parents=True)
    shutil.copy(REPO / "solutions" / aid / f"{aid}.ipynb", course / "source" / aid)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.root = %r\n"
        "c.Execute.timeout = 600\n"
        "# the course tags exercise and test cells skip-execution for the website; grading must run them\n"
        "c.Execute.skip_cells_with_tag = 'never-skip'\n" % str(course))
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    run = lambda *a: subprocess.run([sys.executable, "-m", "nbgrader", *a], cwd=course, env=env,  # noqa: E731
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    run("generate_assignment", aid, "--force")
    shutil.copytree(subs, course / "submitted")
    start = time.perf_counter()
    run("autograde", aid, "--create", "--force")
    elapsed = time.perf_counter() - start
    from nbgrader.api import Gradebook

    points = {}
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        for student in gb.students:
            sub = gb.find_submission(aid, student.id)
            points[student.id] = float(sub.score)
    return elapsed, points


def breakdown(aid: str) -> None:
    from autograder.engine import grade_notebook
    from autograder.grading import Worker
    from autograder.limits import Limits
    from autograder.notebooks import load_assignment
    from autograder.remote import Session
    from autograder.source_rules import prelude

    a = load_assignment(aid)
    nb = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
    w = Worker()
    t0 = time.perf_counter()
    w.zygote.start()
    t1 = time.perf_counter()
    kernel = w.zygote.spawn(Limits(), prelude(aid))
    Session(kernel, time.monotonic() + 60).wait_ready()
    kernel.kill()
    t2 = time.perf_counter()
    res = grade_notebook(nb, "bench", a, Limits(), w.zygote, w.policy)
    t3 = time.perf_counter()
    w.close()
    print(f"  zygote start (imports numpy and torch; once per worker):           {t1 - t0:6.2f} s")
    print(f"  fork + sandbox + prelude of a fresh kernel (per notebook):         {t2 - t1:6.2f} s")
    print(f"  one solution notebook: source rules, answers, {len(a.tests)} checks over the channel: "
          f"{t3 - t2:6.2f} s")
    assert res.points == a.max_points


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="students in the class")
    parser.add_argument("--aid", default="01_rnn", help="assignment id")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-nbgrader", action="store_true", help="time only our pipeline")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="grade on this Dask cluster instead of local workers (prints figures per worker)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kinds = make_class(tmp / "subs", args.aid, args.n)
        where = f"on {args.scheduler}" if args.scheduler else f"{args.workers} workers"
        print(f"autograder ({where}), whole command (start-up and canaries included):")
        t_ours, p_ours = ours(tmp / "subs", tmp / "out", args.workers, args.scheduler)
        rate_ours = args.n / t_ours * 60
        print(f"  {args.n} notebooks in {t_ours:.1f} s = {rate_ours:.1f} notebooks/min")
        if not args.skip_nbgrader:
            t_nbg, p_nbg = nbgrader(tmp / "subs", tmp / "course", args.aid)
            rate_nbg = args.n / t_nbg * 60
            print(f"nbgrader autograde (serial): {args.n} notebooks in {t_nbg:.1f} s = {rate_nbg:.1f} notebooks/min")
            print(f"speed-up: {rate_ours / rate_nbg:.2f}x")
            diff = {s: (p_ours.get(s), p_nbg.get(s)) for s in kinds if p_ours.get(s) != p_nbg.get(s)}
            print("same points for every student: " + ("yes" if not diff else f"NO: {diff}"))
        print("where one notebook's time goes in our pipeline:")
        breakdown(args.aid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
