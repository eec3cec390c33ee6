"""Examine student code before it runs, outside the kernel, with Python's ``ast``.

Every unlocked code cell that is not verbatim course code — the answer cells
and any cell the student added or edited — is checked against the rules below
before the notebook is executed. A cell that breaks a rule never runs.

Attribution (``check_notebook``): a violation in an answer cell scores that
cell's exercise 0 with status ``forbidden``. A violating cell the student
added is attributed to every exercise whose name it binds (``def rnn_step``,
``rnn_step = …``, ``from … import … as rnn_step``), which then scores 0 with
status ``forbidden``; a violating added cell that binds no exercise name is
dropped and listed in the feedback: it cannot have earned anything (it never
runs), and the exercises it did not touch keep the points their own cells earn.

Rules, everywhere:

- imports only from the chapter's allow-list (``ALLOWED_IMPORTS``); never the
  course's reference package (``rnncourse``) or the grader (``autograder``);
- no ``eval``/``exec``/``compile``/``__import__``/``open``/``input``/
  ``breakpoint``/``globals``/``locals``/``vars``/``getattr``/``setattr``/
  ``delattr``/``exit``/``quit``/``help``/``get_ipython`` (``FORBIDDEN_NAMES``).
  Such a name may be bound (a parameter named ``input``) and used where it is
  certainly that binding: a local of a function, lambda or comprehension, or a
  closure over one. At module level, in a class body or after ``global`` it is
  forbidden even where the cell binds it, because there Python falls back to
  the builtin whenever the binding is missing (``if False: exec = 1``);
- no dunder names or attributes (``x.__class__``, ``__subclasses__``,
  ``__globals__``, ``__builtins__`` …; ``super().__init__`` is fine), no
  defining special methods other than ``DEFINABLE_DUNDERS`` (an ``__eq__`` or
  ``__array_function__`` could change how the checks compare results), no frame
  or code attributes (``f_back``, ``gi_frame``, ``tb_frame`` …);
- no attribute of an imported module that reaches the system or the file
  system (``torch.os``, ``np.load``, ``torch.hub``, ``torch.library`` …,
  ``MODULE_ATTRIBUTES``), no private module attribute (``torch._C``), no
  attribute named after a forbidden module anywhere (``x.os``, ``x.sys``);
- attributes may be assigned or deleted only on ``self`` (so no
  ``np.allclose = …``, ``torch.Tensor.allclose = …``, ``type(x).f = …``);
  names of modules the notebook imports may not be rebound (``np = …``);
- no IPython magics or shell escapes (``!cmd``, ``%magic``, ``%%cell``,
  ``x?``): the raw text is run through IPython's own input transformer and any
  resulting ``get_ipython()`` call is a violation;
- no use of a reference implementation that a course cell imported
  (``ref_rnn_step``), except the helpers ``REFERENCE_ALLOWED`` lists.

Chapter and exercise rules: ``FORBIDDEN_ATTRIBUTES`` (torch's recurrent modules
and kernels where the chapter is to write them, torch's attention where the
chapter is to write attention), ``EXERCISE_ATTRIBUTES`` (the
library function that *is* one exercise, such as ``cross_entropy`` for
``lm_loss``).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

_NUMPY = frozenset({"numpy", "math"})
_TORCH = frozenset({"numpy", "math", "torch"})
#: importable top-level modules per chapter. 01–03 are numpy chapters: their exercises are the numpy
#: computations themselves, and torch would hand them autograd, clipping and the recurrent cells ready-made.
#: 04 onwards are torch chapters; numpy and math stay allowed as helpers. Nothing else: no os, sys, io ...
ALLOWED_IMPORTS: dict[str, frozenset[str]] = {
    "01_rnn": _NUMPY, "02_bptt": _NUMPY, "03_clipping": _NUMPY,
    "04_lstm": _TORCH, "05_gru": _TORCH, "06_language_model": _TORCH, "07_sampling": _TORCH,
    "08_seq2seq_attention": _TORCH,
    "09_captioning": _TORCH,
}
_RECURRENT = frozenset({"LSTM", "LSTMCell", "GRU", "GRUCell", "RNN", "RNNCell", "RNNBase", "RNNCellBase", "lstm",
                        "gru", "lstm_cell", "gru_cell", "rnn_tanh", "rnn_tanh_cell", "rnn_relu", "rnn_relu_cell",
                        "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "quantized_lstm", "quantized_gru"})
#: attribute names that implement a chapter's exercises for the student. 04 and 05 are about writing the
#: LSTM and GRU cells and layers (and counting their parameters), so torch's recurrent modules and their
#: kernels are out; 06 builds its model FROM torch.nn.LSTM/GRU/RNN, which is the point there.
_ATTENTION = frozenset({"scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward",
                        "_scaled_dot_product_attention_math", "Transformer", "TransformerDecoderLayer",
                        "TransformerEncoderLayer"})
FORBIDDEN_ATTRIBUTES: dict[str, frozenset[str]] = {
    "04_lstm": _RECURRENT, "05_gru": _RECURRENT,
    # 08 is about writing attention: torch's attention kernels and modules would do it in one call
    "08_seq2seq_attention": _ATTENTION,
}
#: per exercise: the library call that would be the whole exercise
EXERCISE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "lm_loss": frozenset({"cross_entropy", "nll_loss", "CrossEntropyLoss", "NLLLoss"}),
    "clip_grad_norm": frozenset({"clip_grad_norm", "clip_grad_norm_", "clip_grads_with_norm_"}),
    "clip_grad_value": frozenset({"clip_grad_value_"}),
    "orthogonal_init": frozenset({"orthogonal", "orthogonal_", "ortho_group"}),
    "hidden_jacobian": frozenset({"jacobian", "jacfwd", "jacrev"}),
    "jacobian_norms": frozenset({"jacobian", "jacfwd", "jacrev"}),
    "numerical_gradient": frozenset({"gradient", "approx_fprime", "gradcheck"}),
    "temperature_softmax": frozenset(),
    "top_k_filter": frozenset(),
    # 09: the GRU step is written by hand (the chapter's models may use nn.GRUCell); the attention is additive
    "conditioned_gru_step": frozenset({"GRUCell", "GRU", "gru_cell", "gru", "RNNCellBase", "RNNBase"}),
    "spatial_attention": frozenset({"MultiheadAttention", "multi_head_attention_forward",
                                    "scaled_dot_product_attention"}),
}
#: names that course cells import from rnncourse which an answer may still use: earlier chapters' functions
#: and data handling, which are not what the chapter asks to write (02 runs the forward pass it differentiates)
REFERENCE_ALLOWED: dict[str, frozenset[str]] = {
    "01_rnn": frozenset({"one_hot"}),
    "02_bptt": frozenset({"rnn_step", "rnn_forward", "softmax", "cross_entropy", "one_hot", "relative_error"}),
    "03_clipping": frozenset({"rnn_forward"}),
    "06_language_model": frozenset({"CharVocab", "batchify", "bptt_windows", "encode_stream", "load_corpus",
                                    "split_corpus"}),
    # 09: chapter 7's decoders, the data, the models and the figures; the exercises are imported as ref_*
    "09_captioning": frozenset({"greedy_decode", "beam_search", "make_captioning_data", "is_true_caption",
                                "SceneEncoder", "ShowAndTell", "ShowAttendTell", "CaptionStepper", "attention_maps",
                                "attention_on_objects", "evaluate_captioner", "train_captioner"}),
}
FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "__import__", "open", "input", "breakpoint", "globals",
                             "locals", "vars", "getattr", "setattr", "delattr", "exit", "quit", "help",
                             "get_ipython", "memoryview", "copyright", "credits", "license"})
#: modules that are never importable, and whose names are forbidden as attributes too (torch.os, np.sys)
FORBIDDEN_MODULES = frozenset({"os", "sys", "subprocess", "importlib", "builtins", "inspect", "gc", "ctypes",
                               "pathlib", "io", "shutil", "socket", "signal", "pickle", "marshal", "multiprocessing",
                               "threading", "_thread", "tempfile", "glob", "platform", "posix", "resource", "pty",
                               "fcntl", "mmap", "select", "selectors", "asyncio", "code", "codeop", "runpy",
                               "pkgutil", "imp", "zipimport", "types", "weakref", "atexit", "traceback", "linecache",
                               "copyreg", "dill", "cloudpickle", "requests", "urllib", "http", "ftplib", "ssl",
                               "webbrowser", "sysconfig", "site", "faulthandler", "tracemalloc", "functools",
                               "operator", "rnncourse", "autograder", "IPython", "ipykernel", "nbformat",
                               "nbgrader"})
#: attribute names forbidden on anything: they reach files, native code, the system or global hooks
FORBIDDEN_ATTRIBUTES_ANYWHERE = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "inspect", "gc", "ctypes", "shutil", "socket", "signal",
    "pickle", "marshal", "multiprocessing", "threading", "_thread", "posix", "pty", "runpy", "pkgutil", "zipimport",
    "atexit", "copyreg", "loadtxt", "genfromtxt", "fromfile", "fromregex", "memmap", "open_memmap", "from_file",
    "savez", "savez_compressed", "savetxt", "tofile", "npyio", "ctypeslib", "f2py", "extbuild", "hub",
    "cpp_extension", "load_library", "serialization", "overrides", "imread", "imsave", "set_default_dtype",
    "set_default_device", "set_default_tensor_type", "_C", "_VF", "_dynamo", "_inductor", "_ops", "_jit_internal"})
#: attribute names forbidden on a module (or anything reached from one without calling it): ambiguous names
#: that an answer's own objects might use, but that on numpy/torch read files, compile or patch operators
MODULE_ATTRIBUTES = frozenset({
    "load", "loads", "save", "format", "library", "ops", "classes", "compile", "distributed", "package", "mro",
    "DataSource", "distutils"}) | FORBIDDEN_MODULES
#: module aliases an answer may not rebind: the test cells' visible checks use them
PROTECTED_ALIASES = frozenset({"np", "numpy", "torch", "nn", "F", "functional", "math"})
#: frame, code and traceback attributes: a way to reach the callers' (the checks') globals
FRAME_ATTRIBUTES = frozenset({"f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame",
                              "tb_next", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await",
                              "ag_frame", "ag_code", "co_code", "co_consts", "co_names", "func_globals",
                              "func_code", "im_func", "im_self"})
#: special methods an answer may define; any other (__eq__, __float__, __array_function__,
#: __torch_function__ ...) could change how the checks compare or convert what the answer returns
DEFINABLE_DUNDERS = frozenset({"__init__", "__repr__", "__str__", "__len__", "__iter__", "__next__", "__getitem__",
                               "__contains__", "__call__", "__enter__", "__exit__", "__post_init__"})
_MAGIC_LINE = re.compile(r"^\s*(%|!)")
#: longer cells are searched for magics line by line instead of through IPython's transformer
MAX_TRANSFORM_LINES = 2000


def _allowed(chapter: str) -> frozenset[str]:
    return ALLOWED_IMPORTS.get(chapter, _NUMPY)


def _transform(source: str) -> tuple[str, list[str]]:
    """IPython's transformation of a cell, and the magics / shell escapes found in it."""
    problems = []
    try:
        if source.count("\n") > MAX_TRANSFORM_LINES:
            raise ValueError("too long for IPython's transformer, whose time grows faster than the cell")
        from IPython.core.inputtransformer2 import TransformerManager

        transformed = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - fall back to the plain text if IPython cannot read it
        transformed = source
        for lineno, line in enumerate(source.splitlines(), 1):
            if _MAGIC_LINE.match(line):
                problems.append(f"line {lineno}: IPython magics and shell commands are not allowed in an answer")
        return transformed, problems
    try:
        tree = ast.parse(transformed)
    except SyntaxError:
        return transformed, problems
    original = source.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name) \
                and node.func.value.func.id == "get_ipython":
            text = original[node.lineno - 1].strip() if node.lineno <= len(original) else ""
            kind = {"system": "shell command", "getoutput": "shell command", "run_cell_magic": "cell magic",
                    "run_line_magic": "magic"}.get(node.func.attr, "IPython command")
            problems.append(f"line {node.lineno}: IPython {kind} '{text[:60]}' is not allowed in an answer")
    return transformed, problems


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code binds anywhere (assignments, parameters, definitions, imports, loops)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


@dataclass(eq=False)
class _Scope:
    """One scope of a cell: ``module``, ``class`` or ``function`` (functions, lambdas and comprehensions)."""

    kind: str
    parent: "_Scope | None" = None
    bound: set[str] = field(default_factory=set)
    declared_global: set[str] = field(default_factory=set)
    declared_nonlocal: set[str] = field(default_factory=set)
    comprehension: bool = False

    def owns(self, name: str) -> bool:
        """Whether ``name`` used here is certainly a binding of the code's own: a local or closure cell of a
        function scope, which Python never looks up in the builtins (module and class bodies do)."""
        if self.kind != "function":
            return False
        scope: _Scope | None = self
        while scope is not None and scope.kind != "module":
            if scope.kind == "function":
                if name in scope.declared_global:
                    return False
                if name in scope.bound or name in scope.declared_nonlocal:
                    return True
            scope = scope.parent  # class bodies are not enclosing scopes of the functions inside them
        return False


class _Scopes(ast.NodeVisitor):
    """The scope every name of a cell belongs to, as Python's compiler assigns it; ``reads`` tells the
    names that are read (loads and augmented assignments) from those that are only bound."""

    def __init__(self, tree: ast.AST) -> None:
        self.scope = _Scope("module")
        self.of: dict[int, _Scope] = {}
        self.augmented: set[int] = set()
        self.visit(tree)

    def is_own(self, node: ast.Name) -> bool:
        scope = self.of.get(id(node))
        return scope is not None and scope.owns(node.id)

    def reads(self, node: ast.Name) -> bool:
        return isinstance(node.ctx, ast.Load) or id(node) in self.augmented

    def _inside(self, scope: _Scope, nodes: list) -> None:
        outer, self.scope = self.scope, scope
        for node in nodes:
            if node is not None:
                self.visit(node)
        self.scope = outer

    def _signature(self, args: ast.arguments) -> set[str]:
        """Visits what a definition evaluates where it stands (defaults, annotations); returns its parameters."""
        params = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
        for node in args.defaults + args.kw_defaults + [a.annotation for a in params]:
            if node is not None:
                self.visit(node)
        return {a.arg for a in params}

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        params = self._signature(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self.scope.bound.add(node.name)
        self._inside(_Scope("function", self.scope, bound=params), node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        params = self._signature(node.args)
        self._inside(_Scope("function", self.scope, bound=params), [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for child in node.decorator_list + node.bases + node.keywords:
            self.visit(child)
        self.scope.bound.add(node.name)
        self._inside(_Scope("class", self.scope), node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       results: list) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # the outermost iterable is evaluated in the enclosing scope
        parts = [first.target, *first.ifs]
        for gen in rest:
            parts += [gen.target, gen.iter, *gen.ifs]
        self._inside(_Scope("function", self.scope, comprehension=True), parts + results)

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scope = self.scope
        while scope.comprehension and scope.parent is not None:  # := binds outside the comprehension
            scope = scope.parent
        scope.bound.add(node.target.id)
        self.of[id(node.target)] = scope

    def visit_Name(self, node: ast.Name) -> None:
        self.of[id(node)] = self.scope
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.scope.bound.add(node.id)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.augmented.add(id(node.target))
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.declared_nonlocal.update(node.names)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            self.scope.bound.add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.scope.bound.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        if node.name:
            self.scope.bound.add(node.name)
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.scope.bound.add(node.rest)
        self.generic_visit(node)


def _chain(node: ast.AST) -> tuple[ast.AST, list[str], bool]:
    """The base of an attribute/subscript/call chain, its attribute names (outermost last), and whether a
    call or subscript lies on the way."""
    attrs: list[str] = []
    computed = False
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            computed = True
            node = node.value
        else:
            computed = True
            node = node.func
    return node, attrs[::-1], computed


def _module_like(node: ast.AST | None, names: set[str], funcs: set[str]) -> bool:
    """Whether an expression may evaluate to a module (or something reached from one without a call)."""
    if node is None:
        return False
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        return _module_like(node.value, names, funcs) or (isinstance(node, ast.Attribute) and node.attr in names)
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in funcs or _module_like(node.func, set(), funcs)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_module_like(e, names, funcs) for e in node.elts)
    if isinstance(node, ast.Dict):
        return any(_module_like(e, names, funcs) for e in node.values)
    if isinstance(node, ast.IfExp):
        return _module_like(node.body, names, funcs) or _module_like(node.orelse, names, funcs)
    if isinstance(node, ast.BoolOp):
        return any(_module_like(e, names, funcs) for e in node.values)
    if isinstance(node, ast.NamedExpr):
        return _module_like(node.value, names, funcs)
    if isinstance(node, ast.Lambda):
        return _module_like(node.body, names, funcs)
    return False


def module_like_names(tree: ast.AST, aliases: set[str]) -> set[str]:
    """Names (and attribute names) that may hold a module: imports, copies of them (``T = torch``,
    ``mods = [np]``, ``self.m = torch``), and functions or lambdas that return one (their calls count too)."""
    names = set(aliases)
    funcs: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names.add(alias.asname or alias.name)
    for _ in range(6):  # to a fixed point
        before = (len(names), len(funcs))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if _module_like(node.value, names, funcs):
                    for target in targets:
                        for t in ast.walk(target):
                            if isinstance(t, ast.Name):
                                names.add(t.id)
                            elif isinstance(t, ast.Attribute):
                                names.add(t.attr)
                        if isinstance(node.value, ast.Lambda):
                            funcs.update(t.id for t in ast.walk(target) if isinstance(t, ast.Name))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if any(isinstance(r, (ast.Return, ast.Yield)) and _module_like(r.value, names, funcs)
                       for r in ast.walk(node)):
                    funcs.add(node.name)
                for arg, default in zip(node.args.args[::-1], node.args.defaults[::-1]):
                    if _module_like(default, names, funcs):
                        names.add(arg.arg)
            elif isinstance(node, (ast.For, ast.comprehension)) and _module_like(node.iter, names, funcs):
                names.update(t.id for t in ast.walk(node.target) if isinstance(t, ast.Name))
            elif isinstance(node, ast.withitem) and node.optional_vars is not None \
                    and _module_like(node.context_expr, names, funcs):
                names.update(t.id for t in ast.walk(node.optional_vars) if isinstance(t, ast.Name))
        if (len(names), len(funcs)) == before:
            break
    return names | {f"{f}()" for f in funcs}


def _self_names(tree: ast.AST) -> dict[int, str]:
    """For every method in a class body: id of the function node -> the name of its first parameter."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.args.args:
                    found[id(item)] = item.args.args[0].arg
    return found


def check_source(source: str, chapter: str, module_aliases: set[str] | frozenset[str] = frozenset(),
                 reference_names: set[str] | frozenset[str] = frozenset(), exercise: str | None = None,
                 chapter_exercises: set[str] | frozenset[str] | None = None) -> list[str]:
    """Violations in one cell's source, as messages that name the construct and its line.

    ``chapter``: the assignment id (``04_lstm``); ``module_aliases``: names the
    course's own cells bind to modules (``np``, ``torch``, ``nn``);
    ``reference_names``: names the course's cells import from ``rnncourse`` or
    ``autograder``; ``exercise``: the answer cell's exercise, whose own rules
    apply too (``None``: a cell the student added — the rules of every
    exercise of the chapter apply).
    """
    transformed, problems = _transform(source)
    try:
        tree = ast.parse(transformed)
    except SyntaxError:
        return problems  # it fails on its own when it runs
    allowed = _allowed(chapter)
    if exercise is None:  # an added cell: the rules of the chapter's exercises (of all, if not given)
        exercise_attrs = frozenset().union(*(attrs for name, attrs in EXERCISE_ATTRIBUTES.items()
                                             if chapter_exercises is None or name in chapter_exercises))
    else:
        exercise_attrs = EXERCISE_ATTRIBUTES.get(exercise, frozenset())
    implements = FORBIDDEN_ATTRIBUTES.get(chapter, frozenset()) | exercise_attrs
    bound_here = _bound_names(tree)
    scopes = _Scopes(tree)
    usable_refs = set(reference_names) - REFERENCE_ALLOWED.get(chapter, frozenset())
    modlike = module_like_names(tree, set(module_aliases) | usable_refs)
    funcs = {n[:-2] for n in modlike if n.endswith("()")}
    aliases = {n for n in modlike if not n.endswith("()")}
    selfs = _self_names(tree)
    method_of: dict[int, str] = {}
    for func in ast.walk(tree):
        if id(func) in selfs:
            for inner in ast.walk(func):
                method_of.setdefault(id(inner), selfs[id(func)])

    magic_lines = {int(p.split(":")[0].split()[1]) for p in problems}

    def add(node: ast.AST, message: str) -> None:
        problems.append(f"line {getattr(node, 'lineno', 1)}: {message}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top not in allowed:
                    add(node, f"import of '{alias.name}' is not allowed in an answer "
                              f"(allowed in this chapter: {', '.join(sorted(allowed))})")
                for part in alias.name.split(".")[1:]:
                    if part in implements:
                        add(node, f"'{alias.name}' implements this exercise for you")
                    elif part.startswith("_") or part in MODULE_ATTRIBUTES or part in FORBIDDEN_ATTRIBUTES_ANYWHERE:
                        add(node, f"import of '{alias.name}' is not allowed in an answer")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            top = mod.split(".")[0]
            if node.level or top not in allowed:
                add(node, f"import from '{'.' * node.level}{mod}' is not allowed in an answer "
                          f"(allowed in this chapter: {', '.join(sorted(allowed))})")
            else:
                for part in mod.split(".")[1:]:
                    if part.startswith("_") or part in MODULE_ATTRIBUTES or part in FORBIDDEN_ATTRIBUTES_ANYWHERE:
                        add(node, f"import from '{mod}' is not allowed in an answer")
            for alias in node.names:
                if alias.name == "*":
                    add(node, f"'from {mod} import *' is not allowed in an answer")
                elif alias.name in implements:
                    add(node, f"importing '{alias.name}' from '{mod}' is not allowed here: "
                              "it implements this exercise for you")
                elif alias.name.startswith("_") or alias.name in MODULE_ATTRIBUTES \
                        or alias.name in FORBIDDEN_ATTRIBUTES_ANYWHERE:
                    add(node, f"importing '{alias.name}' from '{mod}' is not allowed in an answer")
        elif isinstance(node, ast.Name):
            if node.id == "get_ipython" and node.lineno in magic_lines:
                continue  # what IPython made of a magic, reported as such
            if node.id in FORBIDDEN_NAMES and (node.id.startswith("__")
                                               or scopes.reads(node) and not scopes.is_own(node)):
                hint = (f" (only a function's own local '{node.id}' is certainly yours: elsewhere Python may "
                        "find its builtin; give your object another name)") \
                    if node.id in bound_here and not node.id.startswith("__") else ""
                add(node, f"'{node.id}' is not allowed in an answer{hint}")
            elif node.id.startswith("__") and node.id.endswith("__") and node.id != "__name__":
                add(node, f"'{node.id}' is not allowed in an answer")
            elif node.id in usable_refs and isinstance(node.ctx, ast.Load) and node.id not in bound_here:
                add(node, f"'{node.id}' is the course's reference implementation; write your own")
            elif isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in set(module_aliases) & PROTECTED_ALIASES:
                add(node, f"rebinding '{node.id}' (a module the course imports) is not allowed in an answer")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("__") and node.name.endswith("__") and node.name not in DEFINABLE_DUNDERS:
                add(node, f"defining '{node.name}' is not allowed in an answer "
                          "(it could change how the checks compare or convert your results)")
        elif isinstance(node, ast.Attribute):
            base, attrs, computed = _chain(node)
            from_module = _module_like(node.value, aliases, funcs)
            attr = node.attr
            dotted = ".".join(([base.id] if isinstance(base, ast.Name) else []) + attrs)
            if attr.startswith("__") and attr.endswith("__"):
                if not (attr == "__init__" and isinstance(node.value, ast.Call)
                        and getattr(node.value.func, "id", "") == "super"):
                    add(node, f"the attribute '{attr}' is not allowed in an answer")
            elif attr in FRAME_ATTRIBUTES:
                add(node, f"the attribute '{attr}' (frames and code objects) is not allowed in an answer")
            elif attr in implements:
                add(node, f"'{dotted if from_module else attr}' implements this exercise for you; "
                          "write it with tensor operations")
            elif attr in FORBIDDEN_ATTRIBUTES_ANYWHERE or attr.startswith("register_module_"):
                add(node, f"the attribute '{attr}' is not allowed in an answer "
                          "(files, the system, native code or global hooks)")
            elif from_module and attr in MODULE_ATTRIBUTES:
                add(node, f"'{dotted}' is not allowed in an answer (files, the system, compilation or global hooks)")
            elif from_module and attr.startswith("_"):
                add(node, f"'{dotted}' is a private attribute of a module; it is not allowed in an answer")
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                owner = method_of.get(id(node))
                if isinstance(base, ast.Name) and base.id in aliases and not computed:
                    add(node, f"changing '{dotted}' (an attribute of an imported module) is not allowed")
                elif not (isinstance(base, ast.Name) and owner is not None and base.id == owner):
                    shown = dotted if isinstance(base, ast.Name) and not computed else f"….{attr}"
                    add(node, f"assigning to or deleting '{shown}' is not allowed in an answer "
                              "(only attributes of self may be set)")
    return list(dict.fromkeys(problems))


def defined_names(source: str) -> set[str]:
    """Names a cell binds at its top level, including inside top-level if/for/while/with/try blocks."""
    transformed, _ = _transform(source)
    try:
        tree = ast.parse(transformed)
    except SyntaxError:
        return set()
    names: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add((alias.asname or alias.name).split(".")[0])
                continue
            for child in ast.walk(node):
                if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                    names.add(child.id)
                elif isinstance(child, ast.NamedExpr):
                    names.add(child.target.id)
            for attr in ("body", "orelse", "finalbody"):
                inner = getattr(node, attr, None)
                if isinstance(inner, list):
                    visit([s for s in inner if isinstance(s, ast.stmt)])
            for handler in getattr(node, "handlers", []) or []:
                visit(handler.body)

    visit(tree.body)
    return names


def course_context(source_cells: list[dict]) -> tuple[set[str], set[str]]:
    """Module aliases and reference-package names that the course's own cells bind."""
    aliases, reference = set(), set()
    for cell in source_cells:
        if cell.get("cell_type") != "code":
            continue
        transformed, _ = _transform(_src(cell))
        try:
            tree = ast.parse(transformed)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    name = (a.asname or a.name).split(".")[0]
                    if a.name.split(".")[0] in ("rnncourse", "autograder"):
                        reference.add(a.asname or name)
                    else:
                        aliases.add(name)
            elif isinstance(node, ast.ImportFrom):
                top = (node.module or "").split(".")[0]
                for a in node.names:
                    name = a.asname or a.name
                    if top in ("rnncourse", "autograder"):
                        reference.add(name)
                    elif name in ("nn", "F", "functional", "optim", "linalg", "random", "fft", "testing"):
                        aliases.add(name)
    return aliases, reference


@dataclass
class StaticReport:
    """The outcome of ``check_notebook``."""

    forbidden: dict[str, str] = field(default_factory=dict)  # exercise grade_id -> why it scores 0
    blocked: list[int] = field(default_factory=list)  # indices of merged cells that must not run
    dropped: list[str] = field(default_factory=list)  # messages for blocked added cells bound to no exercise


def check_notebook(cells: list, assignment) -> StaticReport:
    """Check every answer cell and added cell of a merged notebook (``autograder.notebooks.merge``).

    ``cells``: the merged cells (objects with ``source``, ``kind`` and
    ``grade_id``); ``assignment``: the chapter (``autograder.notebooks.Assignment``).
    See the module docstring for how violations are attributed.
    """
    aliases, reference = course_context(assignment.cells)
    exercises = set(assignment.exercises)
    report = StaticReport()
    for index, cell in enumerate(cells):
        if cell.kind not in ("answer", "student"):
            continue
        problems = check_source(cell.source, assignment.aid, aliases, reference,
                                exercise=cell.grade_id if cell.kind == "answer" else None, chapter_exercises=exercises)
        if not problems:
            continue
        report.blocked.append(index)
        message = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        owners = [cell.grade_id] if cell.kind == "answer" else sorted(defined_names(cell.source) & exercises)
        for owner in owners:
            report.forbidden.setdefault(owner, message)
        if not owners:
            report.dropped.append(f"a cell you added was not run: {message}")
    return report


def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def prelude(chapter: str) -> str:
    """What the grading kernel runs before the student's cells: the imports the chapter's answers may assume."""
    lines = ["import math", "import numpy as np"]
    if "torch" in _allowed(chapter):
        lines += ["import torch", "from torch import nn", "import torch.nn.functional as F"]
    return "\n".join(lines) + "\n"
