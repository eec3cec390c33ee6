"""The untrusted side of grading: the kernel that runs one notebook's answers and serves calls to them.

It runs in a process forked from the zygote, already inside the sandbox, with
nothing but its private channel (:class:`autograder.wire.Channel`). It never
sees a test cell, a hidden check, a reference implementation or a grade: the
trusted side (:mod:`autograder.remote`) sends it the chapter's prelude and the
student's cells to execute, then calls the student's functions by name with
plain data and decides from the data that comes back. Everything here may be
rewritten by the student's code, and nothing here decides anything.

Requests (trusted → kernel), each answered by one reply, callbacks aside::

    {"op": "exec", "source"}                       -> {"op": "done", "error", "ename", "evalue", "stdout", "stderr"}
    {"op": "call", "target", "attr", "args", "kwargs"}  -> {"op": "return", "value", "sync", "grad"} | {"op": "raise"}
    {"op": "call", ..., "repeat": n}              -> {"op": "return", "value": [n results], "sync"} | {"op": "raise"}
    {"op": "inspect", "target"}                    -> {"op": "return", "value": {"mro", "modules"}}
    {"op": "backward", "call", "grads"}            -> {"op": "return", "value": [input gradients]}
    {"op": "bind", "names"}                        -> {"op": "return"}  (course helpers served by the grader)
    {"op": "release"}                              -> {"op": "return"}  (drops handles and kept graphs)
    {"op": "bye"}                                  -> the kernel exits

While a call runs, the kernel may send ``{"op": "callback", "id", "args",
"kwargs", "sync"}`` for a callable the trusted side passed in (a step
function, the ``f`` of a numerical gradient) and waits for its
``{"op": "return"}`` or ``{"op": "raise"}``. A callable sent as ``pure`` (a
deterministic function of its arguments, such as a toy model's step
function) is asked once per distinct argument; the kernel keeps its answers
until the next ``release``. Tampering with that memory can only mislead the
student's own function. ``sync`` carries the current
value of every array, tensor and generator argument that the function changed
in place, so the trusted side's copies follow (``numerical_gradient`` perturbs
its ``x`` and calls ``f``). Every message carries the job id and the sender's
sequence number.
"""
from __future__ import annotations

import builtins
import io
import json
import sys
from typing import Any

import numpy as np
import torch

from autograder import wire

MAX_MESSAGE = 4000  # characters of an exception message sent back
MAX_STREAM_JSON = wire.MAX_HEADER // 8  # bytes of one captured stream in a message, escaped as JSON
MAX_REPEAT = 10_000  # calls one "repeat" request may make


class _Capped(io.TextIOBase):
    """A text stream that keeps at most ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0
        self.limit = limit

    def write(self, s: str) -> int:
        s = s if isinstance(s, str) else str(s)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        """What was written, cut so that it also fits a message once escaped as JSON (a control or non-ASCII
        character takes up to six bytes there)."""
        text = "".join(self.parts)
        while (escaped := len(json.dumps(text))) > MAX_STREAM_JSON:
            cut = max(0, len(text) * MAX_STREAM_JSON // escaped - 64)
            self.dropped += len(text) - cut
            text = text[:cut]
        return text + (f"\n[... {self.dropped} more characters dropped ...]" if self.dropped else "")


class _Arg:
    """An array, tensor or generator argument of the running call, with its bytes as the trusted side last saw them."""

    def __init__(self, path: list, value: Any) -> None:
        self.path, self.value = path, value
        self.original = _state_bytes(value)
        self.requires_grad = bool(getattr(value, "requires_grad", False))

    def changed(self) -> bool:
        return _state_bytes(self.value) != self.original or \
            bool(getattr(self.value, "requires_grad", False)) != self.requires_grad

    def seen(self) -> None:
        self.original = _state_bytes(self.value)
        self.requires_grad = bool(getattr(self.value, "requires_grad", False))


def _state_bytes(value: Any) -> bytes:
    if isinstance(value, np.random.Generator):
        return repr(value.bit_generator.state).encode()
    if isinstance(value, torch.Generator):
        return value.get_state().numpy().tobytes()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() + \
            repr(tuple(value.shape)).encode()
    return np.ascontiguousarray(value).tobytes() + repr(value.shape).encode()


class Kernel:
    def __init__(self, channel: wire.Channel, job: str, output_limit: int) -> None:
        self.chan, self.job, self.output_limit = channel, job, output_limit
        self.seq = 0
        self.peer_seq = 0
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.handles: dict[int, Any] = {}
        self.handle_ids: dict[int, int] = {}  # id(obj) -> handle id
        self.graphs: dict[int, tuple[list, list]] = {}
        self.memo: dict[tuple, tuple[dict, list[bytes]]] = {}  # answers of pure callbacks, by their arguments
        self.calls = 0
        self.args: list[_Arg] = []  # the arguments of the call now running (for sync)

    # -------------------------------------------------------------- messages
    def send(self, header: dict, bufs: list[bytes] | None = None) -> None:
        self.seq += 1
        self.chan.send({**header, "job": self.job, "seq": self.seq}, bufs)

    def recv(self) -> tuple[dict, list[bytes]]:
        header, bufs = self.chan.recv()
        self.peer_seq += 1
        if header.get("job") != self.job or header.get("seq") != self.peer_seq:
            raise wire.WireError("a message out of sequence")
        return header, bufs

    # -------------------------------------------------------------- values
    def _ref_out(self, value: Any) -> dict:
        key = id(value)
        if key not in self.handle_ids:
            hid = len(self.handles) + 1
            self.handles[hid] = value
            self.handle_ids[key] = hid
        return {"t": "handle", "id": self.handle_ids[key], "type": type(value).__qualname__[:200]}

    def _ref_in(self, node: dict) -> Any:
        if node["t"] == "handle":
            if node["id"] not in self.handles:
                raise wire.WireError("a handle that does not exist")
            return self.handles[node["id"]]
        cid, pure = node["id"], node.get("pure") is True
        return lambda *args, **kwargs: self._callback(cid, args, kwargs, pure)

    def encode(self, value: Any, bufs: list[bytes]) -> dict:
        return wire.encode(value, bufs, self._ref_out)

    def decode_args(self, header: dict, bufs: list[bytes]) -> tuple[list, dict]:
        args = wire.decode(header.get("args", {"t": "list", "items": []}), bufs, self._ref_in)
        kwargs = wire.decode(header.get("kwargs", {"t": "dict", "items": []}), bufs, self._ref_in)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise wire.WireError("call arguments must be a list and a dict")
        self.args = []
        self._track(args, ["a"], header.get("args"))
        self._track(kwargs, ["k"], header.get("kwargs"))
        return args, kwargs

    def _track(self, value: Any, path: list, node: Any) -> None:
        """Remember array arguments (for sync) and make float tensors sent with requires_grad leaves of a graph."""
        if isinstance(value, torch.Tensor):
            if isinstance(node, dict) and node.get("rg") and value.is_floating_point():
                value.requires_grad_(True)
            self.args.append(_Arg(path, value))
        elif isinstance(value, (np.ndarray, torch.Generator, np.random.Generator)):
            self.args.append(_Arg(path, value))
        elif isinstance(value, (list, tuple)):
            items = node.get("items", []) if isinstance(node, dict) else []
            for i, v in enumerate(value):
                self._track(v, path + [i], items[i] if i < len(items) else None)
        elif isinstance(value, dict):
            items = node.get("items", []) if isinstance(node, dict) else []
            for (k, v), pair in zip(value.items(), items):
                self._track(v, path + [k], pair[1])

    def sync(self, bufs: list[bytes]) -> list:
        """The arguments changed in place since the trusted side last saw them (then they count as seen)."""
        out = []
        for arg in self.args:
            if arg.changed():
                out.append({"path": arg.path, "value": wire.encode(arg.value, bufs),
                            "rg": bool(getattr(arg.value, "requires_grad", False))})
                arg.seen()
        return out

    # -------------------------------------------------------------- callbacks
    def _callback(self, cid: int, args: tuple, kwargs: dict, pure: bool = False) -> Any:
        bufs: list[bytes] = []
        header = {"op": "callback", "id": cid, "args": self.encode(list(args), bufs),
                  "kwargs": self.encode(dict(kwargs), bufs)}
        key = (cid, repr(header), b"".join(bufs)) if pure else None
        if key is not None and key in self.memo:  # a pure callback already answered these arguments
            reply, rbufs = self.memo[key]
            return wire.decode(reply.get("value"), rbufs, self._ref_in)
        header["sync"] = self.sync(bufs)
        self.send(header, bufs)
        reply, rbufs = self.recv()
        while reply.get("op") not in ("return", "raise"):  # the grader calls back in while answering
            self.dispatch(reply, rbufs)
            reply, rbufs = self.recv()
        if key is not None and reply.get("op") == "return" and len(self.memo) < 10_000:
            self.memo[key] = (reply, rbufs)
        if reply.get("op") == "return":
            return wire.decode(reply.get("value"), rbufs, self._ref_in)
        # the grader's function raised: the same builtin exception here (a RuntimeError naming it otherwise)
        ename, evalue = str(reply.get("ename", "an error"))[:100], str(reply.get("evalue", ""))[:MAX_MESSAGE]
        if ename in wire.BUILTIN_ERRORS:
            raise wire.BUILTIN_ERRORS[ename](evalue)
        raise RuntimeError(f"the grader's function raised {ename}: {evalue}")

    # -------------------------------------------------------------- requests
    def resolve(self, target: Any) -> Any:
        if isinstance(target, int):
            if target not in self.handles:
                raise NameError(f"handle {target} does not exist")
            return self.handles[target]
        if not isinstance(target, str) or not target.isidentifier():
            raise NameError("a call needs a name")
        if target not in self.ns:
            raise NameError(f"name '{target}' is not defined")
        return self.ns[target]

    def run_exec(self, source: str) -> dict:
        out, err = _Capped(self.output_limit), _Capped(self.output_limit)
        reply = {"op": "done", "error": False, "ename": "", "evalue": ""}
        real = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            exec(compile(source, "<cell>", "exec"), self.ns)  # noqa: S102 - this is the student's cell
        except BaseException as exc:  # noqa: BLE001 - whatever the cell raised is its outcome
            reply.update(error=True, ename=type(exc).__name__[:100], evalue=_message(exc))
        finally:
            sys.stdout, sys.stderr = real
        reply["stdout"], reply["stderr"] = out.getvalue(), err.getvalue()
        return reply

    def run_call(self, header: dict, bufs: list[bytes]) -> tuple[dict, list[bytes]]:
        out_bufs: list[bytes] = []
        err = _Capped(self.output_limit)
        real = sys.stdout, sys.stderr
        try:
            fn = self.resolve(header.get("target"))
            attr = header.get("attr")
            if attr is not None:
                if not isinstance(attr, str) or not attr.isidentifier():
                    raise AttributeError("an attribute must be a name")
                fn = builtins.getattr(fn, attr)
            args, kwargs = self.decode_args(header, bufs)
            repeat = header.get("repeat")
            if repeat is not None and not (type(repeat) is int and 1 <= repeat <= MAX_REPEAT):
                raise ValueError(f"repeat must be an int in [1, {MAX_REPEAT}]")
            sys.stdout, sys.stderr = _Capped(self.output_limit), err
            try:
                if repeat is None:
                    value = fn(*args, **kwargs) if header.get("invoke", True) else fn
                else:  # n calls in a row on the same argument objects: in-place changes carry over
                    value = [fn(*args, **kwargs) for _ in range(repeat)]
            finally:
                sys.stdout, sys.stderr = real
            self.calls += 1
            grad = self._keep_graph(value) if repeat is None else None
            reply = {"op": "return", "value": self.encode(value, out_bufs), "grad": grad,
                     "sync": self.sync(out_bufs), "stderr": err.getvalue()}
        except BaseException as exc:  # noqa: BLE001 - the student's function raised: that is its answer
            sys.stdout, sys.stderr = real
            out_bufs = []
            reply = {"op": "raise", "ename": type(exc).__name__[:100], "evalue": _message(exc),
                     "mro": [c.__name__ for c in type(exc).__mro__][:20], "sync": self.sync(out_bufs),
                     "stderr": err.getvalue()}
        self.args = []
        return reply, out_bufs

    def _keep_graph(self, value: Any) -> int | None:
        """Keep the autograd graph from the call's inputs to its outputs, for a later ``backward`` request."""
        inputs = [a.value for a in self.args if isinstance(a.value, torch.Tensor) and a.value.requires_grad]
        if not inputs:
            return None
        outputs = [t for t in _tensors(value) if t.requires_grad]
        if not outputs:
            return None
        self.graphs[self.calls] = (inputs, outputs)
        return self.calls

    def run_backward(self, header: dict, bufs: list[bytes]) -> tuple[dict, list[bytes]]:
        inputs, outputs = self.graphs[header["call"]]
        grads = wire.decode(header["grads"], bufs)
        pairs = [(o, g) for o, g in zip(outputs, grads) if g is not None]
        got = torch.autograd.grad([o for o, _ in pairs], inputs, [g.to(o.dtype) for o, g in pairs],
                                  retain_graph=True, allow_unused=True)
        out: list[bytes] = []
        return {"op": "return", "value": wire.encode(list(got), out)}, out

    def run_inspect(self, header: dict) -> dict:
        obj = self.resolve(header.get("target"))
        info = {"mro": [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__][:50], "modules": []}
        if isinstance(obj, torch.nn.Module):
            info["modules"] = [[name, [f"{c.__module__}.{c.__qualname__}" for c in type(m).__mro__][:50]]
                               for name, m in list(obj.named_modules())[:1000]]
        out: list[bytes] = []
        return {"op": "return", "value": wire.encode(info, out)}

    def dispatch(self, header: dict, bufs: list[bytes]) -> bool:
        """Answer one request; False when told to stop."""
        op = header.get("op")
        if op == "bye":
            return False
        try:
            if op == "exec":
                self.send(self.run_exec(str(header.get("source", ""))))
            elif op == "call":
                saved = self.args
                self.send(*self.run_call(header, bufs))
                self.args = saved  # a call made while another waits for a callback
            elif op == "backward":
                self.send(*self.run_backward(header, bufs))
            elif op == "inspect":
                self.send(self.run_inspect(header))
            elif op == "bind":  # course helpers an answer may call, answered by the grader
                for name, node in header.get("names", {}).items():
                    if isinstance(name, str) and name.isidentifier() and isinstance(node, dict) \
                            and node.get("t") == "callable" and type(node.get("id")) is int:
                        self.ns[name] = self._ref_in(node)
                self.send({"op": "return", "value": {"t": "none"}})
            elif op == "release":
                self.handles.clear()
                self.handle_ids.clear()
                self.memo.clear()
                self.graphs.clear()
                self.send({"op": "return", "value": {"t": "none"}})
            else:
                raise wire.WireError(f"unknown request {str(op)[:40]!r}")
        except wire.ChannelClosed:
            raise
        except Exception as exc:  # noqa: BLE001 - a request that cannot be served is answered, not fatal
            self.send({"op": "raise", "ename": type(exc).__name__[:100], "evalue": _message(exc),
                       "mro": [c.__name__ for c in type(exc).__mro__][:20], "sync": []})
        return True

    def serve(self) -> None:
        while self.dispatch(*self.recv()):
            pass


def _tensors(value: Any, depth: int = 0) -> list[torch.Tensor]:
    if depth > wire.MAX_DEPTH:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v, depth + 1)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v, depth + 1)]
    return []


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose str() fails still has a type
        text = "(the exception's message could not be read)"
    return text[:MAX_MESSAGE]


def run(channel: wire.Channel, job: str, output_limit: int, prelude: str, layers: dict) -> None:
    """Execute the chapter's prelude, announce readiness (or why not), then serve requests until told to stop."""
    kernel = Kernel(channel, job, output_limit)
    result = kernel.run_exec(prelude)
    # the prelude is the course's own code: if it fails, the machinery is broken, not the notebook
    broken = f"the prelude failed: {result['ename']}: {result['evalue']}" if result["error"] else ""
    kernel.send({"op": "ready", "layers": layers, "broken": broken})
    if not broken:
        kernel.serve()
