"""nbgrader's configuration for this course: run nbgrader's commands from the repository root, venv active.

    nbgrader generate_assignment 04_lstm      # solutions/ -> chapters/ (the same files as `python -m autograder release`)
    nbgrader autograde 04_lstm                # submitted/<student>/04_lstm/04_lstm.ipynb, graded by the course's engine
    nbgrader generate_feedback 04_lstm        # feedback/<student>/04_lstm/04_lstm.html: messages, no hidden tests
    nbgrader export                           # grades.csv of the gradebook
    nbgrader formgrader                       # (or `make lab-instructor`)

Autograding runs through ``autograder.nbgrader_bridge.TrustedAutograde`` in
place of nbgrader's ``Execute``: the student's code runs in a sealed kernel,
the hidden checks run outside it, and the points are exactly those of
``python -m autograder grade``. See README.md, "Grading with nbgrader".
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from autograder.nbgrader_bridge import (Normalise, RestoreCellFlags, TrustedAutograde,  # noqa: E402
                                        use_trusted_validation)
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,  # noqa: E402
                                    ClearOutput, DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "rnncourse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "chapters"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")

# releases: no header, no outputs, normalised exactly as `python -m autograder release` writes them
c.IncludeHeaderFooter.header = ""
c.ClearOutput.enabled = True
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter", "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells", "nbgrader.preprocessors.ClearSolutions", "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata", "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells", "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme", "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata", Normalise]

# grading: the course's engine in place of Execute; a test cell the student deleted is restored, and every
# course cell gets its nbgrader flags back before OverwriteCells compares checksums (a test cell re-flagged
# as an answer would otherwise stop autograde for that student)
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreCellFlags,
                                      OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [TrustedAutograde, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]

# feedback: scores and messages, never the hidden test blocks
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# students' Validate (JupyterLab's button, `nbgrader validate`) gives the grading verdict, hidden checks included
use_trusted_validation()
# and no cell is ever skipped for the book's skip-execution tag
c.Execute.skip_cells_with_tag = "rnncourse-never-skip"
