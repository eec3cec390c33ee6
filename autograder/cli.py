"""Command line: ``python -m autograder {grade,release,validate,report}``."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from autograder.limits import Limits
from autograder.sandbox import FULL, PRIVILEGES


def _add_limits(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("limits on each notebook")
    for f in dataclasses.fields(Limits):
        group.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=None,
                           help=f"{f.metadata['help']} (default {f.default})")


def _limits(args: argparse.Namespace) -> Limits:
    limits = Limits()
    for f in dataclasses.fields(Limits):
        value = getattr(args, f.name)
        if value is not None:
            setattr(limits, f.name, value)
    return limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description="Grading for the rnncourse chapters.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a folder of submissions")
    g.add_argument("submissions", type=Path, help="SUBMISSIONS/<student_id>/<assignment_id>/<assignment_id>.ipynb")
    g.add_argument("--out", type=Path, required=True, help="folder for grades.csv, feedback/ and results")
    g.add_argument("--workers", type=int, default=None, help="parallel kernels (default: the number of cores)")
    g.add_argument("--force", action="store_true", help="grade again what was already graded")
    g.add_argument("--assignment", default=None, help="grade only this assignment id")
    g.add_argument("--student", default=None, help="grade only this student id")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g.add_argument("--gradebook", default=None, metavar="URL",
                   help="also write every score into the nbgrader gradebook at this SQLAlchemy URL "
                        "(e.g. sqlite:///gradebook.db), creating students and assignments as needed")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="grade on the Dask cluster whose scheduler is at this address (default: local workers)")
    g.add_argument("--sandbox-privileges", default=FULL, choices=PRIVILEGES,
                   help="full (default): every sandbox layer this user can build. The others are for testing "
                        "grading without privileges: as-user builds the sandbox as an ordinary user's grader would, "
                        "without-namespaces as on a system that forbids user namespaces")
    _add_limits(g)
    r = sub.add_parser("release", help="regenerate chapters/ from solutions/")
    r.add_argument("--check", action="store_true", help="only check that chapters/ is up to date")
    v = sub.add_parser("validate", help="grade one notebook as grading would and list its test cells")
    v.add_argument("notebook", type=Path)
    _add_limits(v)
    rep = sub.add_parser("report", help="HTML report of OUT/grades.csv")
    rep.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "grade":
        from autograder.grading import grade

        return grade(args.submissions, args.out, args.workers, args.force, args.assignment, args.student,
                     _limits(args), progress=not args.no_progress and sys.stderr.isatty(), gradebook=args.gradebook,
                     scheduler=args.scheduler, privileges=args.sandbox_privileges)
    if args.command == "release":
        from autograder.release import release

        return release(check=args.check)
    if args.command == "validate":
        from autograder.validate import validate

        return validate(args.notebook, _limits(args))
    from autograder.report import report

    return report(args.out)
