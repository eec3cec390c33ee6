"""The hidden-check library: functions that hidden test cells call on a student's code.

Each ``check_<name>(fn)`` runs the student's function on inputs the notebook
never shows (several shapes, batch sizes, dtypes and edge cases), compares the
results with the :mod:`rnncourse` reference, and raises :class:`CheckFailure`
with a message that says which output is wrong, in which case, by how much,
and — where the wrong value matches a typical mistake — which mistake it looks
like. Messages never contain the inputs' generating code.

The references and the numerical helpers are captured when this package is
imported, so a notebook that later re-binds ``numpy.allclose`` or
``torch.allclose`` (or anything else on those modules) cannot change a verdict.
"""
from __future__ import annotations

import contextlib as _contextlib
import contextvars as _contextvars
import copy as _copy
import hashlib as _hashlib
from typing import Any, Callable, Iterator, Mapping

import numpy as _np_module
import torch as _torch_module


class CheckFailure(AssertionError):
    """A hidden check found a problem; the message is meant for the student."""


# Trusted copies of everything the checks compute with.
_asarray = _np_module.asarray
_abs = _np_module.abs
_max = _np_module.max
_isfinite = _np_module.isfinite
_float64 = _np_module.float64
_ndarray = _np_module.ndarray
_Tensor = _torch_module.Tensor
_deepcopy = _copy.deepcopy


_student = _contextvars.ContextVar("rnncourse_checks_student", default="")


@_contextlib.contextmanager
def cases_for(student: str) -> Iterator[None]:
    """Draw the random cases of the checks run inside this block for ``student`` (see ``case_seed``)."""
    token = _student.set(str(student))
    try:
        yield
    finally:
        _student.reset(token)


def case_seed(base: int) -> int:
    """The seed of a check's random cases: ``base`` itself outside grading (unit tests), and in grading a
    number drawn from ``base`` and the student's id, so inputs harvested from one student's feedback do not
    transfer to another's notebook. The same student always gets the same cases."""
    student = _student.get()
    if not student:
        return int(base)
    digest = _hashlib.sha256(f"{student}\0{int(base)}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def student_text(err: BaseException, limit: int = 300) -> str:
    """What a student's exception says, cut to its last non-empty line and ``limit`` characters: enough to
    recognise the error, too little to print a hidden case's inputs back into the feedback."""
    try:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    except Exception:  # noqa: BLE001 - an exception whose str() fails still has a type
        lines = []
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def to_numpy(value: Any) -> _np_module.ndarray:
    """A float64 numpy copy of an array, tensor or number (for comparisons); CheckFailure if it is none of these."""
    try:
        if isinstance(value, _Tensor):
            return value.detach().cpu().double().numpy()
        return _asarray(value, dtype=_float64)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailure(f"expected numbers (an array, a tensor or a float), got {type(value).__name__}") from None


def max_diff(a: Any, b: Any) -> float:
    """Largest absolute difference between two arrays of the same shape (inf where NaN appears)."""
    a, b = to_numpy(a), to_numpy(b)
    if a.size == 0:
        return 0.0
    d = _abs(a - b)
    if not _isfinite(d).all():
        return float("inf")
    return float(_max(d))


def shape_of(value: Any) -> tuple | None:
    """The shape of an array or tensor; None for anything else (a number, a list, an object in the kernel)."""
    if not isinstance(value, (_ndarray, _Tensor, _np_module.generic)):
        return None
    return tuple(value.shape)


def call(fn: Callable, name: str, case: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's ``fn``; an exception becomes a CheckFailure that names the case."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{name} is not implemented yet (it raised NotImplementedError)") from None
    except CheckFailure:
        raise
    except Exception as err:  # noqa: BLE001 - any student error becomes a readable failure
        kind = getattr(err, "remote_name", type(err).__name__)
        raise CheckFailure(f"{name} raised {kind}: {student_text(err)} ({case})") from None


def expect_shape(what: str, got: Any, shape: tuple, case: str) -> None:
    if shape_of(got) is None:
        raise CheckFailure(f"{what} should be an array/tensor of shape {shape}, got {type(got).__name__} ({case})")
    if shape_of(got) != tuple(shape):
        raise CheckFailure(f"{what} has shape {shape_of(got)}, expected {tuple(shape)} ({case})")


def expect_close(what: str, got: Any, expected: Any, case: str, atol: float = 1e-8,
                 mistakes: Mapping[str, Any] | None = None) -> None:
    """Compare values; on a mismatch, say by how much and which known mistake it matches."""
    expect_shape(what, got, shape_of(expected) if shape_of(expected) is not None else (), case)
    diff = max_diff(got, expected)
    if diff <= atol:
        return
    hint = ""
    for message, wrong in (mistakes or {}).items():
        try:
            if shape_of(wrong) == shape_of(got) and max_diff(got, wrong) <= max(atol, 1e-6):
                hint = f" It looks like {message}."
                break
        except Exception:  # noqa: BLE001 - a diagnosis that cannot be computed is skipped
            continue
    if diff == float("inf"):
        raise CheckFailure(f"{what} contains NaN or inf ({case}).{hint}")
    raise CheckFailure(f"{what} differs from the expected value by up to {diff:.3g} "
                       f"(tolerance {atol:g}) ({case}).{hint}")


#: what a student's function may return where an exercise asks for an array
ARRAYS = (_ndarray, _np_module.generic, _Tensor)


def kind(value: Any) -> str:
    """A short name for what a student's function returned (an object left in the grading kernel names its type)."""
    if hasattr(type(value), "remote_mro"):
        return f"{getattr(value, '_type', 'non-data')} object"
    if isinstance(value, ARRAYS) and shape_of(value) != ():
        return f"an array of shape {shape_of(value)}"
    return type(value).__name__


def expect_array(what: str, got: Any, shape: tuple, case: str) -> None:
    """``got`` is a numpy array or a torch tensor of ``shape``."""
    if not isinstance(got, ARRAYS):
        raise CheckFailure(f"{what} should be an array/tensor of shape {tuple(shape)}, got {kind(got)} ({case})")
    expect_shape(what, got, tuple(shape), case)


def expect_close_array(what: str, got: Any, expected: Any, case: str, atol: float,
                       mistakes: Mapping[str, Any] | None = None) -> None:
    """``expect_close`` for an array result, after checking that it is one."""
    expect_array(what, got, shape_of(expected), case)
    expect_close(what, got, expected, case, atol=atol, mistakes=mistakes)


def number(what: str, got: Any, case: str) -> float:
    """``got`` as a float; anything but a single real number (or a 0-d array) fails."""
    ok = (isinstance(got, (int, float, *ARRAYS)) and not isinstance(got, (bool, _np_module.bool_))
          and shape_of(got) in (None, ()))
    try:
        value = float(got) if ok else None
    except (TypeError, ValueError, RuntimeError):
        value = None
    if value is None:
        raise CheckFailure(f"{what} should be a single number, got {kind(got)} ({case})")
    return value


def expect_number(what: str, got: Any, expected: float, case: str, atol: float,
                  mistakes: Mapping[str, Any] | None = None) -> None:
    """A number within ``atol`` of ``expected``; ``mistakes`` maps a message to the value of a known mistake."""
    expect_close(what, _asarray(number(what, got, case)), _asarray(float(expected)), case, atol=atol,
                 mistakes={m: _asarray(float(v)) for m, v in (mistakes or {}).items()})


def expect_items(name: str, got: Any, n: int, case: str, what: str) -> tuple:
    """``got`` as a tuple of ``n`` items: ``name`` should return a tuple/list of ``n`` things (``what``, e.g.
    ``"(context, weights)"``)."""
    if not isinstance(got, (tuple, list)) or len(got) != n:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailure(f"{name} should return {what}, got {kind(got)}{size} ({case})")
    return tuple(got)


def expect_dtype(what: str, got: Any, dtype: Any, case: str) -> None:
    got_dtype = getattr(got, "dtype", None)
    if got_dtype != dtype:
        raise CheckFailure(f"{what} has dtype {got_dtype}, expected {dtype} ({case})")


def snapshot(*args: Any) -> list:
    return [_deepcopy(a) for a in args]


def expect_unchanged(name: str, before: list, after: tuple, labels: list[str]) -> None:
    for label, b, a in zip(labels, before, after):
        if isinstance(b, (_ndarray, _Tensor)):
            if max_diff(a, b) != 0.0:
                raise CheckFailure(f"{name} modified its input {label}; compute new arrays instead")
        elif isinstance(b, list):
            for i, (bi, ai) in enumerate(zip(b, a)):
                if max_diff(ai, bi) != 0.0:
                    raise CheckFailure(f"{name} modified its input {label}[{i}]; compute new arrays instead")


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def class_names(obj: Any) -> list[str]:
    """Qualified names of an object's classes, for a local object and for one in the grading kernel alike."""
    if hasattr(type(obj), "remote_mro"):
        return obj.remote_mro()
    return [_qualified(c) for c in type(obj).__mro__]


def submodule_classes(model: Any) -> list[tuple[str, list[str]]]:
    """``(name, qualified class names)`` of each submodule of an ``nn.Module``, local or in the grading kernel."""
    if hasattr(type(model), "remote_modules"):
        return model.remote_modules()
    return [(name, [_qualified(c) for c in type(m).__mro__]) for name, m in model.named_modules()]


def pure(fn: Callable) -> Callable:
    """Mark a callable that a check passes to the student as deterministic in its arguments.

    In grading, the kernel then asks the grader once per distinct argument and
    reuses the answer (a step function sampled thousands of times costs one
    round trip per draw instead of two). Locally nothing changes.
    """
    fn.pure_callback = True  # type: ignore[attr-defined]
    return fn
