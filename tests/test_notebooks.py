"""Every solution notebook passes all its tests; every student notebook fails only where work is left to do."""
import pytest

from autograder.release import release
from tests.notebook_utils import IDS, REPO, cell_problems, execute_all, grade_id, prose
from tests.prose_claims import CLAIMS, PROBES

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("aid", IDS)
def test_solution_runs_with_every_test_passing(aid):
    nb = execute_all(REPO / "solutions" / aid / f"{aid}.ipynb", probe=PROBES.get(aid))
    problems = [(i, grade_id(c), p) for i, c in enumerate(nb.cells) if c.cell_type == "code"
                for p in cell_problems(c)]
    assert not problems, f"{aid}: {problems}"
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests, "every chapter has graded test cells"
    if aid in CLAIMS:  # the numbers and outcomes the prose quotes are what the cells computed
        CLAIMS[aid](nb.metadata["probe"], prose(nb))


@pytest.mark.parametrize("aid", IDS)
def test_release_fails_only_with_not_implemented(aid):
    nb = execute_all(REPO / "chapters" / aid / f"{aid}.ipynb")
    failing_tests = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        for kind, text in cell_problems(cell):
            assert kind == "NotImplementedError", f"{aid} cell {i} ({grade_id(cell) or 'demo'}): {kind}: {text[:300]}"
            assert meta.get("grade") or meta.get("solution"), f"{aid} cell {i}: a demo cell failed"
        failing_tests += bool(meta.get("grade") and cell_problems(cell))
    graded = sum(1 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert failing_tests == graded, "every test cell of an unfinished notebook must fail"


def test_chapters_are_up_to_date_with_solutions():
    assert release(check=True) == 0, "run `python -m autograder release` and commit chapters/"
