"""Examine student code before it runs, outside the kernel, with Python's ``ast``.

Every unlocked code cell that is not verbatim course code (answer cells and any
cell the student added or edited) is parsed and checked against the rules of
its chapter. A violation scores the exercise it belongs to 0 with status
``forbidden`` and a message that names the construct and its line.

Rules, everywhere: imports only from the chapter's allow-list; no ``rnncourse``
or ``autograder``; no ``eval``/``exec``/``compile``/``__import__``/``open``/
``getattr``/``setattr``/``delattr``/``globals``/``locals``/``vars``/``input``/
``breakpoint``; no dunder attributes (``x.__class__``, ``__subclasses__``,
``__globals__`` …, except ``super().__init__``); no assignment to, or deletion
of, an attribute of an imported module (``np.allclose = …``); no IPython
magics or shell escapes; no use of names the notebook imported from the
reference package. Chapter-specific: the recurrent modules and kernels of
``torch`` (``nn.LSTM``, ``LSTMCell``, ``GRU``, ``GRUCell``, ``RNN``, ``RNNCell``,
``torch._VF``, ``torch.lstm`` …) are forbidden where the exercise is to write
them (chapters 4 and 5), and allowed in chapter 6, where a model is built from them.
"""
from __future__ import annotations

import ast
import re

_NUMPY = {"numpy", "math"}
_TORCH = {"numpy", "math", "torch"}
#: importable top-level modules per chapter: chapters 1–3 are numpy exercises, the later ones torch
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "01_rnn": _NUMPY, "02_bptt": _NUMPY, "03_clipping": _NUMPY,
    "04_lstm": _TORCH, "05_gru": _TORCH, "06_language_model": _TORCH, "07_sampling": _TORCH,
    "09_captioning": _TORCH,
}
_RECURRENT = {"LSTM", "LSTMCell", "GRU", "GRUCell", "RNN", "RNNCell", "RNNBase", "RNNCellBase", "_VF", "lstm",
              "gru", "lstm_cell", "gru_cell", "rnn_tanh", "rnn_tanh_cell", "rnn_relu", "rnn_relu_cell",
              "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell"}
#: attributes that implement the exercise itself, per chapter
FORBIDDEN_ATTRIBUTES: dict[str, set[str]] = {
    "04_lstm": _RECURRENT, "05_gru": _RECURRENT,
    "06_language_model": {"_VF"},
    "07_sampling": {"_VF"},
    # the GRU step and the attention are the exercises; convolutions and nn.Linear stay allowed
    "09_captioning": {"_VF", "GRUCell", "GRU", "gru_cell", "gru", "RNNCellBase", "RNNBase", "MultiheadAttention",
                      "multi_head_attention_forward", "scaled_dot_product_attention"},
}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "delattr", "globals",
                   "locals", "vars", "input", "breakpoint", "exit", "quit", "help", "memoryview", "__builtins__"}
_MAGIC = re.compile(r"^\s*(%|!)")


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def check_source(source: str, chapter: str, module_aliases: set[str] = frozenset(),
                 reference_names: set[str] = frozenset()) -> list[str]:
    """Violations in one cell's source, as messages naming the construct and line."""
    problems: list[str] = []
    for lineno, line in enumerate(source.splitlines(), 1):
        if _MAGIC.match(line):
            problems.append(f"line {lineno}: IPython magics and shell commands are not allowed in an answer")
    if problems:
        return problems
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # it fails on its own when it runs
    allowed = ALLOWED_IMPORTS.get(chapter, _NUMPY)
    forbidden_attrs = FORBIDDEN_ATTRIBUTES.get(chapter, set())
    aliases = set(module_aliases)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in allowed:
                    problems.append(f"line {node.lineno}: import of '{alias.name}' is not allowed in this chapter "
                                    f"(allowed: {', '.join(sorted(allowed))})")
                aliases.add((alias.asname or alias.name).split(".")[0])
                for part in alias.name.split("."):
                    if part in forbidden_attrs:
                        problems.append(f"line {node.lineno}: '{alias.name}' implements this exercise for you")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            top = mod.split(".")[0]
            if node.level or top not in allowed:
                problems.append(f"line {node.lineno}: import from '{'.' * node.level}{mod}' is not allowed in this "
                                f"chapter (allowed: {', '.join(sorted(allowed))})")
            for alias in node.names:
                if alias.name in forbidden_attrs or alias.name == "*":
                    problems.append(f"line {node.lineno}: importing '{alias.name}' from '{mod}' is not allowed here")
                aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: '{node.id}' is not allowed in an answer")
            elif node.id in reference_names and isinstance(node.ctx, ast.Load):
                problems.append(f"line {node.lineno}: '{node.id}' is the course's reference implementation; "
                                "write your own")
            elif node.id.startswith("__") and node.id.endswith("__") and node.id not in ("__name__",):
                problems.append(f"line {node.lineno}: '{node.id}' is not allowed in an answer")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") and not (node.attr == "__init__" and isinstance(node.value, ast.Call)
                                                   and getattr(node.value.func, "id", "") == "super"):
                problems.append(f"line {node.lineno}: the attribute '{node.attr}' is not allowed in an answer")
            if node.attr in forbidden_attrs:
                problems.append(f"line {node.lineno}: '{node.attr}' implements this exercise for you; "
                                "write it with tensor operations")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and _root_name(node) in aliases:
                problems.append(f"line {node.lineno}: changing '{_root_name(node)}.{node.attr}' "
                                "(an attribute of an imported module) is not allowed")
    # de-duplicate, keep order
    return list(dict.fromkeys(problems))


def defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (functions, classes, assignments)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
    return names


def course_context(source_cells: list[dict]) -> tuple[set[str], set[str]]:
    """Module aliases and reference-package names that the course's own cells bind."""
    aliases, reference = set(), set()
    for cell in source_cells:
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("\n".join(ln for ln in _src(cell).splitlines() if not _MAGIC.match(ln)))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases.add((a.asname or a.name).split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    name = a.asname or a.name
                    if (node.module or "").split(".")[0] in ("rnncourse", "autograder"):
                        reference.add(name)
                    elif name[:1].islower() and name in ("nn", "F", "functional"):
                        aliases.add(name)
    return aliases, reference


def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s
