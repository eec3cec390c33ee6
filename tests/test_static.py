"""Source checks: every forbidden construct is caught with a message naming it; honest answers pass."""
import json

import pytest

from autograder.static import check_source, course_context, defined_names
from tests.notebook_utils import IDS, REPO

FORBIDDEN = [
    ("import os", "01_rnn", "import of 'os'"),
    ("import subprocess", "04_lstm", "import of 'subprocess'"),
    ("from rnncourse import rnn_step", "01_rnn", "import from 'rnncourse'"),
    ("from rnncourse.lstm import lstm_step", "04_lstm", "import from 'rnncourse.lstm'"),
    ("import autograder.checks", "01_rnn", "import of 'autograder.checks'"),
    ("import torch", "01_rnn", "import of 'torch'"),
    ("np.allclose = lambda *a, **k: True", "01_rnn", "changing 'np.allclose'"),
    ("torch.allclose = lambda *a, **k: True", "04_lstm", "changing 'torch.allclose'"),
    ("del np.testing", "01_rnn", "changing 'np.testing'"),
    ("x = __import__('o' + 's')", "01_rnn", "'__import__'"),
    ("m = getattr(np, 'lin' + 'alg')", "01_rnn", "'getattr'"),
    ("setattr(np, 'allclose', print)", "01_rnn", "'setattr'"),
    ("eval('1+1')", "01_rnn", "'eval'"),
    ("exec('x = 1')", "01_rnn", "'exec'"),
    ("compile('1', 'f', 'eval')", "01_rnn", "'compile'"),
    ("open('/etc/passwd').read()", "01_rnn", "'open'"),
    ("globals()['x'] = 1", "01_rnn", "'globals'"),
    ("().__class__.__base__.__subclasses__()", "01_rnn", "'__class__'"),
    ("f.__globals__", "01_rnn", "'__globals__'"),
    ("!cat /etc/passwd", "01_rnn", "shell commands"),
    ("%run other.py", "01_rnn", "magics"),
    ("cell = torch.nn.LSTMCell(3, 4)", "04_lstm", "'LSTMCell' implements this exercise"),
    ("from torch.nn import GRUCell", "05_gru", "importing 'GRUCell'"),
    ("h = torch._VF.lstm_cell(x, (h, c), W_ih, W_hh)", "04_lstm", "'_VF'"),
    ("import importlib", "07_sampling", "import of 'importlib'"),
    ("import builtins", "06_language_model", "import of 'builtins'"),
    ("import inspect, gc, ctypes", "04_lstm", "import of 'inspect'"),
    ("import socket", "07_sampling", "import of 'socket'"),
    ("def rnn_step(*a):\n    return ref_rnn_step(*a)", "01_rnn", "reference implementation"),
    ("c = F.scaled_dot_product_attention(q[:, None], K, V)[:, 0]", "08_seq2seq_attention",
     "scaled_dot_product_attention' implements this exercise"),
    ("attn = nn.MultiheadAttention(4, 1)", "08_seq2seq_attention", "MultiheadAttention' implements this exercise"),
    ("from torch.nn.functional import scaled_dot_product_attention", "08_seq2seq_attention",
     "importing 'scaled_dot_product_attention'"),
    ("import os", "08_seq2seq_attention", "import of 'os'"),
]


@pytest.mark.parametrize("source,chapter,message", FORBIDDEN)
def test_forbidden_constructs_are_named(source, chapter, message):
    problems = check_source(source, chapter, {"np", "torch", "nn"}, {"ref_rnn_step"})
    assert problems and any(message in p for p in problems), problems
    assert problems[0].startswith("line ")


def test_attention_answers_may_use_softmax_and_matrix_products():
    src = ("def dot_attention(query, keys, values, mask=None, scale=None):\n"
           "    s = torch.einsum('bsh,bh->bs', keys, query) / math.sqrt(query.shape[1])\n"
           "    w = F.softmax(s.masked_fill(~mask, float('-inf')), dim=-1)\n"
           "    return torch.bmm(w[:, None], values)[:, 0], w\n")
    assert check_source(src, "08_seq2seq_attention", {"np", "torch", "nn", "F", "math"}, exercise="dot_attention") == []


def test_recurrent_modules_are_allowed_where_the_exercise_uses_them():
    src = ("class CharRNNLM(nn.Module):\n    def __init__(self, V, E, H, cell='lstm'):\n"
           "        super().__init__()\n        self.rnn = nn.LSTM(E, H)\n")
    assert check_source(src, "06_language_model", {"nn", "torch"}) == []


@pytest.mark.parametrize("aid", IDS)
def test_every_honest_solution_passes(aid):
    nb = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
    aliases, reference = course_context(nb["cells"])
    assert reference, "the course cells import reference names the answers may not use"
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            assert check_source("".join(cell["source"]), aid, aliases, reference) == [], cell["source"]


def test_defined_names():
    assert defined_names("def f():\n    pass\nclass G: pass\nh = 1\na, b = 2, 3") == {"f", "G", "h", "a", "b"}
