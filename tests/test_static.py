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
    ("h = nn.GRUCell(7, 5)(torch.cat([x, v], 1), h)", "09_captioning", "'GRUCell' implements this exercise"),
    ("h = torch.gru_cell(u, h, W_ih, W_hh, b_ih, b_hh)", "09_captioning", "'gru_cell' implements this exercise"),
    ("from torch.nn import GRUCell", "09_captioning", "importing 'GRUCell'"),
    ("F.scaled_dot_product_attention(q, k, v)", "09_captioning", "'scaled_dot_product_attention'"),
    ("from rnncourse.bleu_score import bleu", "09_captioning", "import from 'rnncourse.bleu_score'"),
    ("import nltk", "09_captioning", "import of 'nltk'"),
    ("from collections import Counter", "09_captioning", "import from 'collections'"),
]


@pytest.mark.parametrize("source,chapter,message", FORBIDDEN)
def test_forbidden_constructs_are_named(source, chapter, message):
    problems = check_source(source, chapter, {"np", "torch", "nn"}, {"ref_rnn_step"})
    assert problems and any(message in p for p in problems), problems
    assert problems[0].startswith("line ")


def test_captioning_answers_may_use_linear_layers_and_softmax():
    src = ("def spatial_attention(h, grid, W_h, W_g, w):\n"
           "    scores = torch.tanh(F.linear(grid, W_g) + F.linear(h, W_h).unsqueeze(1)) @ w\n"
           "    weights = torch.softmax(scores, dim=1)\n"
           "    return torch.bmm(weights.unsqueeze(1), grid).squeeze(1), weights\n")
    assert check_source(src, "09_captioning", {"torch", "F", "nn"}) == []


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
