"""Chapter 08 graded end to end: a named mistake and torch's own attention, through the grader's proxies.

(That the solution earns full marks and the release none is the canary of
tests/test_every_chapter_grades.py.)
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.grading_utils import REPO, load, put, read_grades, with_answer

pytestmark = pytest.mark.slow
AID = "08_seq2seq_attention"
UNSCALED = ("def dot_attention(query, keys, values, mask=None, scale=None):\n"
            "    scores = torch.einsum('bsh,bh->bs', keys, query)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, float('-inf'))\n"
            "    weights = torch.softmax(scores, dim=-1)\n"
            "    return torch.einsum('bs,bse->be', weights, values), weights\n")
TORCH_DOES_IT = ("def dot_attention(query, keys, values, mask=None, scale=None):\n"
                 "    m = None if mask is None else mask[:, None]\n"
                 "    c = F.scaled_dot_product_attention(query[:, None], keys, values, attn_mask=m, scale=scale)\n"
                 "    return c[:, 0], None\n")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    subs, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("out")
    sol = load("solutions", AID)
    put(subs, "carol", AID, with_answer(sol, "dot_attention", UNSCALED))
    put(subs, "dan", AID, with_answer(sol, "dot_attention", TORCH_DOES_IT))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out),
                           "--workers", "2"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_a_named_mistake_costs_its_exercise_and_the_feedback_names_it(graded):
    g = read_grades(graded)
    assert g[("carol", AID, "test_dot_attention")] == (0.0, "ok")
    assert g[("carol", AID, "test_make_decoder_io")] == (2.0, "ok")
    feedback = "".join(p.read_text(encoding="utf-8") for p in (graded / "feedback" / "carol").rglob("*.html"))
    assert "the scores are not scaled" in feedback and "check_dot_attention" not in feedback


def test_torch_attention_is_forbidden_in_the_exercise(graded):
    assert read_grades(graded)[("dan", AID, "test_dot_attention")] == (0.0, "forbidden")
