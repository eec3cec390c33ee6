"""The trusted side of a notebook's channel: run cells in the kernel, call the student's code by name.

A :class:`Session` wraps one kernel (:class:`autograder.kernels.KernelProcess`).
``session.exec(source)`` runs one of the student's cells there;
``session.proxy(name)`` is a stand-in for the student's function or class
``name`` that a hidden check calls like the real thing::

    check_rnn_step(session.proxy("rnn_step"))

Each call encodes the arguments as plain data (:mod:`autograder.wire`), the
kernel calls the student's function on fresh copies and sends the result
back, which is decoded strictly into fresh objects here. Callables among the
arguments (a step function) stay here and answer the kernel's calls;
in-place changes the function makes to array arguments are mirrored onto the
caller's arrays (``sync``), so purity checks and ``numerical_gradient``'s
perturbations work as in one process. A returned tensor that depends on
arguments sent with ``requires_grad`` is differentiable here: its backward
asks the kernel for the vector-Jacobian product. Objects that are not data
(an ``nn.Module``) come back as :class:`RemoteObject` handles.

Nothing the kernel says is believed beyond its data: every verdict is made by
the check on this side. A message out of sequence, from another job, too
large or malformed raises :class:`KernelGone`, which ends that kernel alone.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from autograder import wire
from autograder.kernels import InfrastructureError, KernelGone, KernelProcess
from autograder.text import clean_text

MAX_TEXT = 4000  # characters kept of any text the kernel sends (messages, stderr)


class RemoteError(Exception):
    """The student's code raised an exception of a type that only exists in the kernel."""


class Deadline(BaseException):
    """The kernel did not answer within the time the grader allows (the notebook gets ``timeout``); no
    ``Exception``, so that no check's ``except Exception`` mistakes it for an error of the student's function."""


def remote_exception(reply: dict) -> Exception:
    """An exception of the builtin class nearest to what the student's code raised, with its message."""
    names = reply.get("mro") if isinstance(reply.get("mro"), list) else []
    message = clean_text(str(reply.get("evalue", ""))[:MAX_TEXT])
    for name in [str(reply.get("ename", "")), *map(str, names)]:
        if name in wire.BUILTIN_ERRORS:
            exc = wire.BUILTIN_ERRORS[name](message)
            break
    else:
        exc = RemoteError(message)
    exc.remote_name = clean_text(str(reply.get("ename", "Exception"))[:100])  # type: ignore[attr-defined]
    return exc


class Session:
    """The conversation with one kernel: requests out, replies and callbacks in, deadlines enforced."""

    def __init__(self, kernel: KernelProcess, deadline: float) -> None:
        self.kernel = kernel
        self.chan = kernel.channel
        self.job = kernel.job
        self.seq = 0
        self.peer_seq = 0
        self.deadline = deadline  # time.monotonic() by which the current step must end
        self.callbacks: dict[int, Any] = {}
        self.callback_ids: dict[int, int] = {}  # id() of a callable sent before -> its callback id
        self.standing: set[int] = set()  # callbacks bound for the whole notebook (course helpers)
        self.stderr: list[str] = []  # what the student's code wrote to stderr during calls since the last reset
        self.budget = wire.Budget()  # what decoding the message last received may still build

    # ------------------------------------------------------------------ messages
    def send(self, header: dict, bufs: list[bytes] | None = None) -> None:
        """Send a message within the current deadline: a kernel that stops reading cannot hold the grader."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Deadline
        self.seq += 1
        try:
            self.chan.send({**header, "job": self.job, "seq": self.seq}, bufs, timeout=left)
        except TimeoutError:
            raise Deadline from None
        except wire.ChannelClosed as err:
            raise KernelGone(str(err)) from None

    def recv(self) -> tuple[dict, list[bytes]]:
        """The kernel's next message within the current deadline; what decoding it may build starts afresh."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Deadline
        try:
            header, bufs = self.chan.recv(timeout=left)
        except TimeoutError:
            raise Deadline from None
        except wire.WireError as err:
            raise KernelGone(str(err)) from None
        self.peer_seq += 1
        if header.get("job") != self.job or header.get("seq") != self.peer_seq:
            raise KernelGone("the kernel sent a message out of sequence")
        self.budget = wire.Budget()
        return header, bufs

    def wait_ready(self) -> dict:
        header, _ = self.recv()
        if header.get("op") != "ready" or not isinstance(header.get("layers"), dict):
            raise KernelGone("the kernel did not announce itself")
        return header

    def request(self, header: dict, bufs: list[bytes] | None = None, args: Any = None) -> tuple[dict, list[bytes]]:
        """Send a request and return its reply, answering the kernel's callbacks meanwhile."""
        self.send(header, bufs)
        while True:
            reply, rbufs = self.recv()
            if reply.get("op") != "callback":
                if args is not None:
                    self._apply_sync(reply, rbufs, args)
                if isinstance(reply.get("stderr"), str) and reply["stderr"]:
                    self.stderr.append(clean_text(reply["stderr"][:MAX_TEXT]))
                return reply, rbufs
            self._answer_callback(reply, rbufs, args)

    def _answer_callback(self, msg: dict, bufs: list[bytes], args: Any) -> None:
        fn = self.callbacks.get(msg.get("id"))
        if fn is None:
            raise KernelGone("the kernel called back a function it was never given")
        if args is not None:
            self._apply_sync(msg, bufs, args)
        try:
            cargs = self.decode(msg.get("args"), bufs)
            ckwargs = self.decode(msg.get("kwargs"), bufs)
            if not isinstance(cargs, list) or not isinstance(ckwargs, dict):
                raise wire.WireError("callback arguments must be a list and a dict")
        except wire.WireError as err:
            raise KernelGone(str(err)) from None
        try:
            value = fn(*cargs, **{str(k): v for k, v in ckwargs.items()})
            out: list[bytes] = []
            self.send({"op": "return", "value": wire.encode(value, out, self._ref_out)}, out)
        except (KernelGone, Deadline, InfrastructureError):
            raise
        except Exception as exc:  # noqa: BLE001 - the callback's own error goes back to the caller in the kernel
            self.send({"op": "raise", "ename": type(exc).__name__, "evalue": str(exc)[:1000]})

    # ------------------------------------------------------------------ values
    def _ref_out(self, value: Any) -> dict:
        if isinstance(value, RemoteObject) and value._session is self:
            return {"t": "handle", "id": value._id}
        if callable(value):
            cid = self.callback_ids.get(id(value))
            if cid is None or self.callbacks.get(cid) is not value:
                cid = len(self.callbacks) + 1
                self.callbacks[cid] = value
                self.callback_ids[id(value)] = cid
            return {"t": "callable", "id": cid, "pure": bool(getattr(value, "pure_callback", False))}
        raise wire.WireError(f"a value of type {type(value).__name__} cannot be sent to the kernel")

    def _ref_in(self, node: dict) -> Any:
        if node["t"] == "handle":
            return RemoteObject(self, node["id"], clean_text(str(node.get("type", "object"))[:200]))
        raise wire.WireError("the kernel sent a callable reference")

    def decode(self, node: Any, bufs: list[bytes]) -> Any:
        """A value of the message last received, within that message's budget."""
        return wire.decode(node, bufs, self._ref_in, budget=self.budget)

    def _apply_sync(self, msg: dict, bufs: list[bytes], args: Any) -> None:
        """Mirror the kernel's in-place changes to array arguments onto the caller's objects."""
        entries = msg.get("sync", [])
        if not isinstance(entries, list):
            raise KernelGone("a malformed sync list")
        for entry in entries:
            try:
                value = wire.decode(entry["value"], bufs, budget=self.budget)
                target = args
                for key in entry["path"]:
                    target = target[key]
            except (KeyError, IndexError, TypeError, wire.WireError) as err:
                raise KernelGone(f"a malformed sync entry ({str(err)[:200]})") from None
            _assign(target, value, bool(entry.get("rg")))

    # ------------------------------------------------------------------ requests
    def exec(self, source: str) -> dict:
        reply, _ = self.request({"op": "exec", "source": source})
        if reply.get("op") != "done":
            raise KernelGone("the kernel answered a cell with something else")
        return {"error": reply.get("error") is True,
                **{k: clean_text(str(reply.get(k) or ""))[:MAX_TEXT] for k in ("ename", "evalue", "stdout", "stderr")}}

    def call(self, target: str | int, attr: str | None, args: tuple, kwargs: dict, invoke: bool = True,
             repeat: int | None = None) -> Any:
        """The value of ``target.attr(*args, **kwargs)`` in the kernel; with ``repeat = n``, the list of the
        values of n calls in a row on the same arguments (one round trip; no gradients)."""
        bufs: list[bytes] = []
        arglist, kwdict = list(args), dict(kwargs)
        header = {"op": "call", "target": target, "attr": attr, "invoke": invoke,
                  "args": wire.encode(arglist, bufs, self._ref_out),
                  "kwargs": wire.encode(kwdict, bufs, self._ref_out)}
        if repeat is not None:
            header["repeat"] = repeat
        reply, rbufs = self.request(header, bufs, args={"a": arglist, "k": kwdict})
        if reply.get("op") == "raise":
            raise remote_exception(reply)
        if reply.get("op") != "return":
            raise KernelGone("the kernel answered a call with something else")
        try:
            value = self.decode(reply.get("value"), rbufs)
        except wire.WireError as err:
            raise KernelGone(f"the kernel's result is malformed ({err})") from None
        if repeat is not None:
            if type(value) is not list or len(value) != repeat:
                raise KernelGone(f"the kernel answered {repeat} calls with something else than {repeat} values")
            return value
        grad = reply.get("grad")
        if type(grad) is int:
            value = _differentiable(self, grad, value, _rg_flags(reply.get("value")), _grad_inputs(arglist, kwdict))
        return value

    def backward(self, call_id: int, grads: list) -> list:
        bufs: list[bytes] = []
        reply, rbufs = self.request({"op": "backward", "call": call_id, "grads": wire.encode(grads, bufs)}, bufs)
        if reply.get("op") != "return":
            raise remote_exception(reply)
        try:
            got = self.decode(reply.get("value"), rbufs)
        except wire.WireError as err:
            raise KernelGone(f"the kernel's gradients are malformed ({str(err)[:200]})") from None
        if not isinstance(got, list):
            raise KernelGone("the kernel's gradients are malformed")
        return got

    def inspect(self, target: str | int) -> dict:
        reply, rbufs = self.request({"op": "inspect", "target": target})
        if reply.get("op") != "return":
            raise remote_exception(reply)
        try:
            info = self.decode(reply.get("value"), rbufs)
        except wire.WireError as err:
            raise KernelGone(f"the kernel's description is malformed ({str(err)[:200]})") from None
        if not isinstance(info, dict):
            raise KernelGone("the kernel's description is malformed")
        return info

    def release(self) -> None:
        """Forget the handles, graphs and callbacks of the last test (standing helpers stay)."""
        self.callbacks = {k: v for k, v in self.callbacks.items() if k in self.standing}
        self.callback_ids = {id(v): k for k, v in self.callbacks.items()}
        self.request({"op": "release"})

    def bind(self, helpers: dict[str, Any]) -> None:
        """Make ``helpers`` callable by name in the kernel; each call is answered here, on plain data."""
        names = {}
        for name, fn in helpers.items():
            node = self._ref_out(fn)
            self.standing.add(node["id"])
            names[name] = node
        self.request({"op": "bind", "names": names})

    def proxy(self, name: str) -> "RemoteFunction":
        return RemoteFunction(self, name)


class RemoteFunction:
    """The student's function or class ``name`` in the kernel, called with plain data."""

    def __init__(self, session: Session, name: str) -> None:
        self._session, self._name = session, name
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self._name, None, args, kwargs)

    def repeat(self, n: int, *args: Any, **kwargs: Any) -> list:
        """``[f(*args, **kwargs) for _ in range(n)]`` in one round trip: the same as n calls in a row, each
        seeing the in-place changes of the one before (a generator's state), for checks that sample."""
        return self._session.call(self._name, None, args, kwargs, repeat=n)

    def __repr__(self) -> str:
        return f"<student's {self._name}>"


class RemoteObject:
    """An object that lives in the kernel (a model): call it, call its methods; its data comes back as data."""

    def __init__(self, session: Session, hid: int, type_name: str) -> None:
        self._session, self._id, self._type = session, hid, type_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self._id, None, args, kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _RemoteMethod(self._session, self._id, attr)

    def remote_mro(self) -> list[str]:
        """Qualified names of the object's classes, as the kernel reports them."""
        return [str(n) for n in self._session.inspect(self._id).get("mro", [])]

    def remote_modules(self) -> list[tuple[str, list[str]]]:
        """``(name, qualified class names)`` of each submodule of an ``nn.Module``, as the kernel reports them."""
        return [(str(n), [str(c) for c in mro]) for n, mro in self._session.inspect(self._id).get("modules", [])]

    def __repr__(self) -> str:
        return f"<student's {self._type} object>"


class _RemoteMethod:
    def __init__(self, session: Session, hid: int, attr: str) -> None:
        self._session, self._id, self._attr = session, hid, attr

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._session.call(self._id, self._attr, args, kwargs)

    def value(self) -> Any:
        """The attribute itself rather than a call of it."""
        return self._session.call(self._id, self._attr, (), {}, invoke=False)


def _assign(target: Any, value: Any, requires_grad: bool) -> None:
    """Make the caller's array ``target`` hold ``value`` (what the student's code left in its copy)."""
    if isinstance(target, np.random.Generator) and isinstance(value, np.random.Generator):
        target.bit_generator.state = value.bit_generator.state
    elif isinstance(target, torch.Generator) and isinstance(value, torch.Generator):
        target.set_state(value.get_state())
    elif isinstance(target, torch.Tensor) and isinstance(value, torch.Tensor):
        if value.shape == target.shape:
            with torch.no_grad():
                target.copy_(value.to(target.dtype))
        if target.requires_grad and not requires_grad and not target.is_leaf:
            target.detach_()
    elif isinstance(target, np.ndarray) and isinstance(value, np.ndarray):
        if value.shape == target.shape and target.flags.writeable:
            target[...] = value


def _grad_inputs(args: list, kwargs: dict) -> list[torch.Tensor]:
    """The tensors sent with requires_grad, in the order the kernel tracks them (args, then kwargs)."""
    found: list[torch.Tensor] = []

    def walk(v: Any) -> None:
        if isinstance(v, torch.Tensor):
            if v.requires_grad and v.is_floating_point():
                found.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(args)
    walk(kwargs)
    return found


def _rg_flags(node: Any) -> list[bool]:
    """For each tensor of an encoded value, in the order of ``_flat_tensors``: was it differentiable there?"""
    if not isinstance(node, dict):
        return []
    if node.get("t") == "tensor":
        return [node.get("rg") is True]
    if node.get("t") in ("list", "tuple"):
        return [f for item in node.get("items", []) for f in _rg_flags(item)]
    if node.get("t") == "dict":
        return [f for pair in node.get("items", []) for f in _rg_flags(pair[1] if len(pair) == 2 else None)]
    return []


def _differentiable(session: Session, call_id: int, value: Any, flags: list[bool], inputs: list[torch.Tensor]) -> Any:
    """Re-attach the call's differentiable outputs to ``inputs`` through a function whose backward is remote."""
    tensors = _flat_tensors(value)
    if len(flags) != len(tensors):
        raise KernelGone("the kernel's result does not match its own description")
    outputs = [t for t, rg in zip(tensors, flags) if rg and t.is_floating_point()]
    if not inputs or not outputs:
        return value
    attached = _RemoteGrad.apply(session, call_id, len(outputs), *outputs, *inputs)
    mapping = {id(t): a for t, a in zip(outputs, attached)}
    return _replace(value, mapping)


class _RemoteGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, session, call_id, n_out, *tensors):  # noqa: D401 - torch's signature
        ctx.session, ctx.call_id, ctx.n_out = session, call_id, n_out
        ctx.n_in = len(tensors) - n_out
        ctx.in_meta = [(t.dtype, t.shape) for t in tensors[n_out:]]
        return tuple(t.clone() for t in tensors[:n_out])

    @staticmethod
    def backward(ctx, *grads):
        got = ctx.session.backward(ctx.call_id, [g.detach() if g is not None else None for g in grads])
        if len(got) != ctx.n_in:
            raise KernelGone("the kernel returned gradients for the wrong number of inputs")
        out = []
        for g, (dtype, shape) in zip(got, ctx.in_meta):
            if g is None:
                out.append(torch.zeros(shape, dtype=dtype))
            elif not isinstance(g, torch.Tensor) or tuple(g.shape) != tuple(shape):
                raise KernelGone("the kernel returned a gradient of the wrong shape")
            else:
                out.append(g.to(dtype))
        return (None, None, None, *([None] * ctx.n_out), *out)


def _flat_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat_tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _flat_tensors(v)]
    return []


def _replace(value: Any, mapping: dict[int, torch.Tensor]) -> Any:
    if isinstance(value, torch.Tensor):
        return mapping.get(id(value), value)
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace(v, mapping) for v in value)
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    return value
