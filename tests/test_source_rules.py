"""Source checks: every forbidden construct is caught with a message naming it; honest answers pass."""
import ast
import inspect
import json

import pytest

from autograder.notebooks import MergedCell, load_assignment
from autograder.source_rules import check_notebook, check_source, course_context, defined_names
from tests.notebook_utils import IDS, REPO

ALIASES = {"np", "torch", "nn", "F", "math", "plt", "time"}
REFS = {"ref_rnn_step", "rnn_forward", "ScratchLSTM"}

# (source, chapter, exercise or None, a part of the expected message)
FORBIDDEN = [
    # imports outside the chapter's allow-list, the reference package, the grader
    ("import os", "01_rnn", "rnn_step", "line 1: import of 'os' is not allowed in an answer"),
    ("import subprocess", "04_lstm", None, "import of 'subprocess'"),
    ("import sys", "07_sampling", None, "import of 'sys'"),
    ("import importlib", "07_sampling", None, "import of 'importlib'"),
    ("import builtins", "06_language_model", None, "import of 'builtins'"),
    ("import inspect, gc, ctypes", "04_lstm", None, "import of 'ctypes'"),
    ("import socket", "07_sampling", None, "import of 'socket'"),
    ("import pickle", "05_gru", None, "import of 'pickle'"),
    ("from pathlib import Path", "01_rnn", None, "import from 'pathlib'"),
    ("import torch", "01_rnn", "rnn_step",
     "import of 'torch' is not allowed in an answer (allowed in this chapter: math, numpy)"),
    ("from rnncourse import rnn_step", "01_rnn", None, "import from 'rnncourse'"),
    ("from rnncourse.lstm import lstm_step", "04_lstm", "lstm_step", "import from 'rnncourse.lstm'"),
    ("import rnncourse.lstm as L", "04_lstm", "lstm_step", "import of 'rnncourse.lstm'"),
    ("import autograder.checks", "01_rnn", None, "import of 'autograder.checks'"),
    ("from . import x", "01_rnn", None, "import from '.'"),
    ("from numpy import *", "01_rnn", None, "'from numpy import *'"),
    ("import numpy.ctypeslib", "01_rnn", None, "import of 'numpy.ctypeslib'"),
    ("from torch.utils.cpp_extension import load_inline", "04_lstm", None, "import from 'torch.utils.cpp_extension'"),
    ("from torch import _C", "04_lstm", None, "importing '_C' from 'torch'"),
    # patching modules the checks use
    ("np.allclose = lambda *a, **k: True", "01_rnn", None,
     "line 1: changing 'np.allclose' (an attribute of an imported module)"),
    ("torch.allclose = lambda *a, **k: True", "04_lstm", None, "changing 'torch.allclose'"),
    ("torch.Tensor.allclose = lambda *a, **k: True", "04_lstm", None, "changing 'torch.Tensor.allclose'"),
    ("np.testing.assert_allclose = print", "01_rnn", None, "changing 'np.testing.assert_allclose'"),
    ("del np.testing", "01_rnn", None, "changing 'np.testing'"),
    ("T = torch.Tensor\nT.allclose = max", "04_lstm", None, "line 2: changing 'T.allclose'"),
    ("mods = [np]\nmods[0].allclose = max", "01_rnn", None, "assigning to or deleting '….allclose'"),
    ("type(x).allclose = max", "04_lstm", None, "assigning to or deleting '….allclose'"),
    ("def f(h):\n    h.anything = 1", "04_lstm", None, "line 2: assigning to or deleting 'h.anything'"),
    ("import numpy\nnumpy.isclose = max", "01_rnn", None, "changing 'numpy.isclose'"),
    ("np = None", "01_rnn", None, "rebinding 'np'"),
    ("for torch in range(3):\n    pass", "04_lstm", None, "rebinding 'torch'"),
    # dynamic code, string-built imports, reflection
    ("x = __import__('o' + 's')", "01_rnn", None, "'__import__' is not allowed"),
    ("m = getattr(np, 'lin' + 'alg')", "01_rnn", None, "'getattr' is not allowed"),
    ("setattr(np, 'allclose', print)", "01_rnn", None, "'setattr'"),
    ("delattr(np, 'allclose')", "01_rnn", None, "'delattr'"),
    ("eval('1+1')", "01_rnn", None, "'eval'"),
    ("exec('x = 1')", "01_rnn", None, "'exec'"),
    ("compile('1', 'f', 'eval')", "01_rnn", None, "'compile'"),
    ("open('/etc/passwd').read()", "01_rnn", None, "line 1: 'open' is not allowed in an answer"),
    ("input()", "01_rnn", None, "'input'"),
    ("breakpoint()", "01_rnn", None, "'breakpoint'"),
    ("globals()['x'] = 1", "01_rnn", None, "'globals'"),
    ("locals()", "01_rnn", None, "'locals'"),
    ("vars(np)['allclose'] = max", "01_rnn", None, "'vars'"),
    ("get_ipython().system('ls')", "01_rnn", None, "get_ipython"),
    ("exit()", "01_rnn", None, "'exit'"),
    ("().__class__.__base__.__subclasses__()", "01_rnn", None, "the attribute '__class__'"),
    ("f.__globals__", "01_rnn", None, "'__globals__'"),
    ("x = __builtins__", "01_rnn", None, "'__builtins__' is not allowed"),
    ("def g():\n    yield\ngen = g()\ngen.gi_frame.f_back", "01_rnn", None, "'gi_frame' (frames and code objects)"),
    ("try:\n    1 / 0\nexcept Exception as e:\n    t = e.with_traceback(None).tb_frame", "01_rnn", None, "'tb_frame'"),
    ("class Liar:\n    def __eq__(self, other):\n        return True", "04_lstm", None, "line 2: defining '__eq__'"),
    ("class Liar(np.ndarray):\n    def __array_function__(self, *a):\n        return True", "01_rnn", None,
     "defining '__array_function__'"),
    ("class Liar(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, *a):\n        return True",
     "04_lstm",
     None, "defining '__torch_function__'"),
    ("class Liar:\n    __array_priority__ = 1000", "01_rnn", None, "'__array_priority__' is not allowed"),
    # modules reached through attributes, files, hooks, compilation
    ("torch.os.system('ls')", "04_lstm", None, "the attribute 'os'"),
    ("np.sys.modules", "01_rnn", None, "the attribute 'sys'"),
    ("x = np.load('a.npy', allow_pickle=True)", "01_rnn", None, "'np.load' is not allowed"),
    ("x = torch.load('a.pt', weights_only=False)", "04_lstm", None, "'torch.load' is not allowed"),
    ("t = torch\nx = t.load('a.pt')", "04_lstm", None, "line 2: 't.load' is not allowed"),
    ("def m():\n    return torch\nm().load('a.pt')", "04_lstm", None, "line 3: 'm.load' is not allowed"),
    ("x = np.fromfile('/etc/passwd', dtype=np.uint8)", "01_rnn", None, "the attribute 'fromfile'"),
    ("x = np.loadtxt('/work/solutions.txt')", "01_rnn", None, "the attribute 'loadtxt'"),
    ("np.zeros(3).tofile('big.bin')", "01_rnn", None, "the attribute 'tofile'"),
    ("torch.hub.load('x/y', 'z')", "04_lstm", None, "the attribute 'hub'"),
    ("torch.library.impl('aten::add', 'CPU')", "04_lstm", None, "'torch.library' is not allowed"),
    ("torch.ops.aten.add", "04_lstm", None, "'torch.ops' is not allowed"),
    ("torch._C._set_grad_enabled(False)", "04_lstm", None, "the attribute '_C'"),
    ("torch.compile(f)", "04_lstm", None, "'torch.compile' is not allowed"),
    ("nn.modules.module.register_module_forward_hook(f)", "06_language_model", None,
     "the attribute 'register_module_forward_hook'"),
    ("torch.set_default_dtype(torch.float16)", "04_lstm", None, "the attribute 'set_default_dtype'"),
    ("plt.imread('/work/main/solutions/x.png')", "01_rnn", None, "the attribute 'imread'"),
    ("np._core", "01_rnn", None, "'np._core' is a private attribute"),
    # IPython magics and shell escapes, found by IPython's own transformer
    ("!cat /etc/passwd", "01_rnn", None, "line 1: IPython shell command '!cat /etc/passwd'"),
    ("x = 1\nfiles = !ls ..", "01_rnn", None, "line 2: IPython shell command"),
    ("%run other.py", "01_rnn", None, "IPython magic '%run other.py'"),
    ("%%bash\ncat /etc/passwd", "01_rnn", None, "IPython cell magic '%%bash'"),
    ("np?", "01_rnn", None, "IPython magic"),
    # the course's reference implementations
    ("def rnn_step(*a):\n    return ref_rnn_step(*a)", "01_rnn", "rnn_step",
     "line 2: 'ref_rnn_step' is the course's reference"),
    ("def lstm_forward(*a):\n    return ScratchLSTM(3, 4)(*a)", "04_lstm", "lstm_forward",
     "'ScratchLSTM' is the course's"),
    # what implements the chapter's or the exercise's own thing
    ("cell = torch.nn.LSTMCell(3, 4)", "04_lstm", "lstm_step", "'torch.nn.LSTMCell' implements this exercise"),
    ("cell = nn.LSTM(3, 4)", "04_lstm", "lstm_forward", "'nn.LSTM' implements this exercise"),
    ("from torch.nn import GRUCell", "05_gru", "gru_step", "importing 'GRUCell' from 'torch.nn'"),
    ("n = sum(p.numel() for p in nn.GRU(3, 4).parameters())", "05_gru", "rnn_param_counts", "'nn.GRU' implements"),
    ("h = torch._VF.lstm_cell(x, (h, c), W_ih, W_hh)", "04_lstm", "lstm_step", "the attribute '_VF'"),
    ("h, c = torch.lstm_cell(x, (h, c), W_ih, W_hh)", "04_lstm", "lstm_step", "'torch.lstm_cell' implements"),
    ("h = torch.gru_cell(x, h, W_ih, W_hh)", "05_gru", "gru_step", "'torch.gru_cell' implements"),
    ("loss = torch.nn.functional.cross_entropy(a, b)", "06_language_model", "lm_loss", "cross_entropy' implements"),
    ("loss = nn.NLLLoss()(a, b)", "06_language_model", "lm_loss", "'nn.NLLLoss' implements"),
    ("loss = nn.NLLLoss()(a, b)", "06_language_model", None, "'nn.NLLLoss' implements"),
    ("c = F.scaled_dot_product_attention(q[:, None], K, V)[:, 0]", "08_seq2seq_attention", "dot_attention",
     "'F.scaled_dot_product_attention' implements this exercise"),
    ("attn = nn.MultiheadAttention(4, 1)", "08_seq2seq_attention", "additive_attention",
     "'nn.MultiheadAttention' implements this exercise"),
    ("from torch.nn.functional import scaled_dot_product_attention", "08_seq2seq_attention",
     "attention_decoder_step", "importing 'scaled_dot_product_attention'"),
    ("import os", "08_seq2seq_attention", None, "import of 'os'"),
    ("h = nn.GRUCell(7, 5)(torch.cat([x, v], 1), h)", "09_captioning", "conditioned_gru_step",
     "'nn.GRUCell' implements"),
    ("h = torch.gru_cell(u, h, W_ih, W_hh, b_ih, b_hh)", "09_captioning", "conditioned_gru_step", "'torch.gru_cell' implements"),
    ("from torch.nn import GRUCell", "09_captioning", None, "'GRUCell'"),
    ("c = F.scaled_dot_product_attention(q, k, v)", "09_captioning", "spatial_attention",
     "'F.scaled_dot_product_attention' implements this exercise"),
    ("from rnncourse.bleu_score import bleu", "09_captioning", "bleu", "import from 'rnncourse.bleu_score'"),
    ("import nltk", "09_captioning", "bleu", "import of 'nltk'"),
    ("from collections import Counter", "09_captioning", "modified_precision", "import from 'collections'"),
    # a forbidden name bound somewhere but used where Python may still find the builtin
    ("def _f(exec, getattr):\n    pass\nexec('import os')", "01_rnn", None, "line 3: 'exec' is not allowed"),
    ("def _f(getattr):\n    pass\nm = getattr(np, 'lin' + 'alg')", "01_rnn", None, "line 3: 'getattr' is not allowed"),
    ("if False:\n    exec = 1\nexec('import os')", "01_rnn", None, "line 3: 'exec' is not allowed"),
    ("exec = print\ndel exec\nexec('import os')", "01_rnn", None, "line 3: 'exec' is not allowed"),
    ("exec = print\nexec('import os')", "01_rnn", None, "line 2: 'exec' is not allowed"),
    ("class C:\n    open = print\n    open('/etc/passwd')", "01_rnn", None, "line 3: 'open' is not allowed"),
    ("class C:\n    getattr = 1\n    def m(self):\n        return getattr(self, 'x')", "01_rnn", None,
     "line 4: 'getattr' is not allowed"),
    ("def f():\n    global exec\n    exec = print\n    exec('import os')", "01_rnn", None,
     "line 4: 'exec' is not allowed"),
    ("def f():\n    global exec\n    def g():\n        return exec('import os')\n    return g", "01_rnn", None,
     "line 4: 'exec' is not allowed"),
    ("def f(input):\n    return input\nxs = [input(i) for i in range(3)]", "01_rnn", None,
     "line 3: 'input' is not allowed"),
    ("def f(input):\n    return input\nxs = [i for i in input]", "01_rnn", None, "line 3: 'input' is not allowed"),
    ("def f(open=open):\n    return open", "01_rnn", None, "line 1: 'open' is not allowed"),
    ("exec += 1", "01_rnn", None, "'exec' is not allowed"),
    ("def f(__import__):\n    return __import__('os')", "01_rnn", None, "line 2: '__import__' is not allowed"),
]


@pytest.mark.parametrize("source,chapter,exercise,message", FORBIDDEN,
                         ids=[f"{i}-{s.splitlines()[0][:30]}" for i, (s, *_) in enumerate(FORBIDDEN)])
def test_forbidden_constructs_are_named(source, chapter, exercise, message):
    problems = check_source(source, chapter, ALIASES, REFS, exercise=exercise)
    assert problems and any(message in p for p in problems), problems
    assert all(p.startswith("line ") for p in problems)


ALLOWED = [
    # what honest answers do: tensor ops, helpers, classes built on torch.nn where that is the point
    ("class CharRNNLM(nn.Module):\n    def __init__(self, V, E, H, cell='lstm'):\n        super().__init__()\n"
     "        cells = {'rnn': nn.RNN, 'lstm': nn.LSTM, 'gru': nn.GRU}\n        self.rnn = cells[cell](E, H)\n"
     "        self.head = nn.Linear(H, V)\n    def forward(self, x, state=None):\n"
     "        out, state = self.rnn(x, state)\n        return self.head(out), state\n",
     "06_language_model", "CharRNNLM"),
    ("import numpy as np\nimport math\ndef f(x):\n    return np.tanh(x) * math.pi", "01_rnn", "rnn_step"),
    ("import torch.nn.functional as F\ndef f(x):\n    return F.softmax(x, dim=-1)", "07_sampling", "top_p_filter"),
    ("def f(logits, k):\n    return torch.topk(logits, k).indices", "07_sampling", "top_k_filter"),
    ("def f(x):\n    y = x.copy()\n    y[0] = 1\n    return y % 2 != 0", "02_bptt", "numerical_gradient"),
    ("def f(z):\n    total = (z\n             % 3\n             != 1)\n    return total", "01_rnn", "softmax"),
    ("def f(state):\n    return type(state)(s.detach() for s in state)", "06_language_model", "detach_state"),
    ("def f(x, h, W, U, b):\n    return rnn_step(x, h, W, U, b)", "02_bptt", "rnn_backward"),  # an earlier chapter's
    ("s = '''\n%not a magic\n!nor a shell escape\n'''", "01_rnn", None),
    ("def softmax(input):\n    return np.exp(input) / np.exp(input).sum()", "01_rnn", "softmax"),  # own name 'input'
    ("if __name__ == '__main__':\n    pass", "01_rnn", None),
    # a function's own local of a forbidden name: a parameter, a local, a closure over one, a lambda, a comprehension
    ("def f(x):\n    input = x + 1\n    return input * 2", "01_rnn", None),
    ("def f(open):\n    def g(x):\n        return open(x)\n    return g", "01_rnn", None),
    ("def f():\n    vars = []\n    def g(x):\n        nonlocal vars\n        vars = vars + [x]\n    return g", "01_rnn",
     None),
    ("f = lambda input: input + 1", "01_rnn", None),
    ("xs = [input * 2 for input in range(3)]", "01_rnn", None),
    ("def f():\n    [(input := i) for i in range(3)]\n    return input + 1", "01_rnn", None),
    ("def f(xs):\n    for compile in xs:\n        compile += 1\n    return compile", "01_rnn", None),
    ("input = 3", "01_rnn", None),
    ("from torch import nn\nlayer = nn.Linear(3, 4)", "06_language_model", None),
    ("rng = np.random.default_rng(0)\nq, r = np.linalg.qr(rng.standard_normal((3, 3)))", "03_clipping",
     "orthogonal_init"),
    ("def f(q, K, V, mask=None, scale=None):\n    s = torch.einsum('bsh,bh->bs', K, q) / math.sqrt(q.shape[1])\n"
     "    w = F.softmax(s.masked_fill(~mask, float('-inf')), dim=-1)\n    return torch.bmm(w[:, None], V)[:, 0], w\n",
     "08_seq2seq_attention", "dot_attention"),
    ("def spatial_attention(h, grid, W_h, W_g, w):\n"
     "    scores = torch.tanh(F.linear(grid, W_g) + F.linear(h, W_h).unsqueeze(1)) @ w\n"
     "    weights = torch.softmax(scores, dim=1)\n"
     "    return torch.bmm(weights.unsqueeze(1), grid).squeeze(1), weights\n", "09_captioning", "spatial_attention"),
]


@pytest.mark.parametrize("source,chapter,exercise", ALLOWED)
def test_honest_constructs_pass(source, chapter, exercise):
    assert check_source(source, chapter, ALIASES, REFS, exercise=exercise) == []


def _answer_cells(aid: str):
    nb = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
    for cell in nb["cells"]:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("solution"):
            yield nbg["grade_id"], "".join(cell["source"]), nb


@pytest.mark.parametrize("aid", IDS)
def test_every_honest_solution_passes(aid):
    nb = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
    aliases, reference = course_context(nb["cells"])
    assert reference, "the course cells import reference names the answers may not use"
    exercises = {gid for gid, _, _ in _answer_cells(aid)}
    for gid, source, _ in _answer_cells(aid):
        assert check_source(source, aid, aliases, reference, exercise=gid) == [], source
        assert check_source(source, aid, aliases, reference, chapter_exercises=exercises) == [], source  # added


def _reference_functions():
    """The reference package's own implementations: correct code written independently of the notebooks."""
    import rnncourse.bptt
    import rnncourse.clipping
    import rnncourse.gru
    import rnncourse.lm
    import rnncourse.lstm
    import rnncourse.rnn
    import rnncourse.sampling
    import rnncourse.attention
    import rnncourse.seq2seq

    chapters = {rnncourse.rnn: "01_rnn", rnncourse.bptt: "02_bptt", rnncourse.clipping: "03_clipping",
                rnncourse.lstm: "04_lstm", rnncourse.gru: "05_gru", rnncourse.lm: "06_language_model",
                rnncourse.sampling: "07_sampling", rnncourse.attention: "08_seq2seq_attention",
                rnncourse.seq2seq: "08_seq2seq_attention"}
    only = {rnncourse.seq2seq: {"make_decoder_io", "attention_decoder_step"}}  # the rest trains and decodes models
    import rnncourse.bleu_score
    import rnncourse.captioning
    import rnncourse.hidden_units

    chapters = {rnncourse.rnn: "01_rnn", rnncourse.bptt: "02_bptt", rnncourse.clipping: "03_clipping",
                rnncourse.lstm: "04_lstm", rnncourse.gru: "05_gru", rnncourse.lm: "06_language_model",
                rnncourse.hidden_units: "06_language_model",
                rnncourse.sampling: "07_sampling", rnncourse.captioning: "09_captioning",
                rnncourse.bleu_score: "09_captioning"}
    for module, aid in chapters.items():
        tree = ast.parse(inspect.getsource(module))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_") \
                    and node.name in only.get(module, {node.name}):
                yield aid, node.name, ast.get_source_segment(inspect.getsource(module), node)


@pytest.mark.parametrize("aid,name,source", list(_reference_functions()), ids=lambda v: v if len(str(v)) < 30 else "")
def test_reference_implementations_pass_as_answers(aid, name, source):
    nb = json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())
    aliases, reference = course_context(nb["cells"])
    problems = check_source(source, aid, aliases | {"F"}, reference, exercise=name)
    if name == "lm_loss":  # the package may call F.cross_entropy; the exercise is to write what it does
        assert problems and all("cross_entropy' implements this exercise" in p for p in problems), problems
    elif name == "find_unit":  # the package builds it on unit_correlations, which the chapter's demos import
        assert problems and all("'unit_correlations' is the course's reference" in p for p in problems), problems
    else:
        assert problems == []


def test_captioning_answers_may_use_the_chapters_tools_but_not_its_references():
    nb = json.loads((REPO / "solutions" / "09_captioning" / "09_captioning.ipynb").read_text())
    aliases, reference = course_context(nb["cells"])
    tools = "model = ShowAttendTell(16)\nids = greedy_decode(CaptionStepper(model, image), 1, 2, 12)\n"
    assert {"ShowAttendTell", "greedy_decode", "CaptionStepper", "ref_bleu"} <= reference
    assert check_source(tools, "09_captioning", aliases, reference) == []
    copied = "def bleu(h, r, max_n=4):\n    return ref_bleu(h, r, max_n)\n"
    problems = check_source(copied, "09_captioning", aliases, reference, exercise="bleu")
    assert problems and all("reference implementation" in p for p in problems), problems


def test_an_added_cell_follows_the_rules_of_its_own_chapters_exercises():
    src = "class Model(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.rnn = nn.GRU(3, 4)\n"
    ch06 = {"make_lm_pairs", "lm_loss", "perplexity", "bits_per_char", "detach_state", "CharRNNLM", "find_unit"}
    ch09 = {"init_state_from_features", "conditioned_gru_step", "spatial_attention", "modified_precision", "bleu"}
    assert check_source(src, "06_language_model", ALIASES, REFS, chapter_exercises=ch06) == []
    assert any("'nn.GRU' implements" in p for p in check_source(src, "09_captioning", ALIASES, REFS,
                                                                  chapter_exercises=ch09))


def test_defined_names():
    src = ("def f():\n    pass\nclass G: pass\nh = 1\na, b = 2, 3\nfrom m import x as y\nif True:\n    z = 1\n"
           "for i in range(2):\n    pass\n")
    assert defined_names(src) == {"f", "G", "h", "a", "b", "y", "z", "i"}


def _merged(aid: str, extra: dict[int, str], answers: dict[str, str]) -> tuple[list[MergedCell], object]:
    a = load_assignment(aid)
    cells = []
    for i, cell in enumerate(a.cells):
        if cell.get("cell_type") != "code":
            continue
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        gid = nbg.get("grade_id", "")
        src = "".join(cell["source"])
        kind = "answer" if nbg.get("solution") else "test" if nbg.get("grade") else "course"
        cells.append(MergedCell(answers.get(gid, src), kind, gid))
        if i in extra:
            cells.append(MergedCell(extra[i], "student"))
    return cells, a


def test_check_notebook_attributes_violations():
    a = load_assignment("01_rnn")
    code = [i for i, c in enumerate(a.cells) if c.get("cell_type") == "code"]
    cells, a = _merged("01_rnn", {code[0]: "import os\ndef rnn_forward(*a):\n    return os.getcwd()\n",
                                  code[1]: "np.allclose = lambda *a, **k: True\n"},
                       {"softmax": "def softmax(z):\n    return ref_softmax(z)\n"})
    report = check_notebook(cells, a)
    assert set(report.forbidden) == {"rnn_forward", "softmax"}
    assert "import of 'os'" in report.forbidden["rnn_forward"]
    assert "'ref_softmax' is the course's reference" in report.forbidden["softmax"]
    assert len(report.dropped) == 1 and "changing 'np.allclose'" in report.dropped[0]
    assert len(report.blocked) == 3
    assert all(cells[i].kind in ("answer", "student") for i in report.blocked)


def test_check_notebook_passes_the_solutions():
    for aid in IDS:
        cells, a = _merged(aid, {}, {})
        report = check_notebook(cells, a)
        assert report.forbidden == {} and report.blocked == [] and report.dropped == [], (aid, report)
