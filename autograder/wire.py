"""The notebook channel's wire format: framed messages carrying plain data, decoded strictly.

A message is one frame::

    u32 total length | u32 header length | header (JSON, UTF-8) | buffer 0 | buffer 1 | ...

The header is a JSON object; ``header["bufs"]`` lists the byte lengths of the
raw buffers that follow it. Values travel as tagged JSON trees (``encode``)
whose arrays and tensors point at a buffer by index, so an array crosses the
channel as its raw bytes with its dtype and shape, never pickled.

``decode`` is the trusted side's door: it builds every value afresh from those
bytes with exact types (a plain ``numpy.ndarray``, a plain ``torch.Tensor``,
``float``, ``int`` ...), takes shapes from the data, accepts only the dtypes
in ``NUMPY_DTYPES``/``TORCH_DTYPES``, and refuses anything malformed, too deep
or too large with :class:`WireError`. One :class:`Budget` per message bounds
what decoding it may build: ``MAX_ITEMS`` values and ``MAX_DECODED`` bytes,
every array counted each time a value refers to it, so a frame that points a
million values at one buffer is refused before it costs memory. Strings are
made valid text on the way in (``clean_text``: a lone surrogate cannot be
written as UTF-8 anywhere downstream). Whatever the other side's objects claim
to be (an ``ndarray`` subclass that wins every comparison, a ``float`` whose
subtraction is 0), what arrives is data.

Values that are not plain data travel as references: a callable of the
trusted side as ``{"t": "callable", "id": k}`` (the kernel calls it back), an
object of the kernel as ``{"t": "handle", "id": k}`` (the trusted side calls
its methods through :mod:`autograder.remote`). ``encode`` and ``decode`` take a
``ref`` hook for them.
"""
from __future__ import annotations

import builtins
import json
import math
import os
import select
import struct
import time
from typing import Any, Callable

import numpy as np
import torch

from autograder.text import clean_text

#: largest frame either side accepts (the checks' arguments and results are far smaller)
MAX_FRAME = 64 * 2**20
#: largest JSON header
MAX_HEADER = 4 * 2**20
#: nesting depth and number of values in one decoded tree
MAX_DEPTH = 32
MAX_ITEMS = 200_000
#: longest string value
MAX_STR = 2**20
#: bytes of arrays, tensors and strings that decoding one message may build, a buffer counted at every reference
MAX_DECODED = 128 * 2**20

NUMPY_DTYPES = {name: np.dtype(name) for name in
                ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")}
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
                "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
                "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool}
_TORCH_NAMES = {v: k for k, v in TORCH_DTYPES.items()}
#: the builtin exception classes by name: an error that crosses the channel as ``ename`` is raised again as one
BUILTIN_ERRORS = {name: obj for name, obj in vars(builtins).items()
                  if isinstance(obj, type) and issubclass(obj, Exception)}


class WireError(Exception):
    """A frame or value that the protocol does not allow (the peer is broken or hostile)."""


class ChannelClosed(WireError):
    """The peer closed its end."""


# ----------------------------------------------------------------------------------------------- frames

def pack(header: dict, bufs: list[bytes] | None = None) -> bytes:
    bufs = bufs or []
    head = json.dumps({**header, "bufs": [len(b) for b in bufs]}, separators=(",", ":")).encode()
    body = struct.pack(">I", len(head)) + head + b"".join(bufs)
    return struct.pack(">I", len(body)) + body


def unpack(body: bytes) -> tuple[dict, list]:
    if len(body) < 4:
        raise WireError("a frame without a header")
    (hlen,) = struct.unpack(">I", body[:4])
    if hlen > MAX_HEADER or hlen > len(body) - 4:
        raise WireError("a frame whose header is too long")
    try:
        header = json.loads(body[4:4 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("a frame whose header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("bufs"), list):
        raise WireError("a frame whose header is not an object with bufs")
    lengths = header["bufs"]
    if not all(type(n) is int and n >= 0 for n in lengths) or 4 + hlen + sum(lengths) != len(body):
        raise WireError("a frame whose buffers do not add up")
    view, bufs, at = memoryview(body), [], 4 + hlen
    for n in lengths:
        bufs.append(view[at:at + n])  # views, not copies: a frame's bytes are held once
        at += n
    return header, bufs


class Channel:
    """One end of a notebook's private channel: a pair of pipe descriptors, framed messages, deadlines."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self._buf = bytearray()

    def send(self, header: dict, bufs: list[bytes] | None = None, timeout: float | None = None) -> None:
        """Write one message; ``TimeoutError`` if the other side has not taken it all within ``timeout`` seconds
        (the trusted side's end is non-blocking, so a peer that stops reading cannot hold it)."""
        data = memoryview(pack(header, bufs))
        deadline = None if timeout is None else time.monotonic() + timeout
        while data:
            if deadline is not None or not os.get_blocking(self.write_fd):
                _wait(self.write_fd, select.POLLOUT, deadline)
            try:
                n = os.write(self.write_fd, data)
            except BlockingIOError:
                continue
            except OSError as err:
                raise ChannelClosed(f"the channel is closed ({err})") from None
            data = data[n:]

    def recv(self, timeout: float | None = None) -> tuple[dict, list[bytes]]:
        """The next message; ``TimeoutError`` past ``timeout`` seconds, ``ChannelClosed`` at end of input."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if len(self._buf) >= 4:
                (n,) = struct.unpack(">I", self._buf[:4])
                if n > MAX_FRAME:
                    raise WireError(f"a frame of {n} bytes, over the limit of {MAX_FRAME}")
                if len(self._buf) >= 4 + n:
                    body = bytes(self._buf[4:4 + n])
                    del self._buf[:4 + n]
                    return unpack(body)
            if deadline is not None:
                _wait(self.read_fd, select.POLLIN, deadline)
            try:
                chunk = os.read(self.read_fd, 1 << 20)
            except BlockingIOError:
                continue
            except OSError as err:
                raise ChannelClosed(f"the channel is closed ({err})") from None
            if not chunk:
                raise ChannelClosed("the other side closed the channel")
            self._buf += chunk

    def close(self) -> None:
        for fd in {self.read_fd, self.write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass


def _wait(fd: int, event: int, deadline: float | None) -> None:
    """Until ``fd`` is ready for ``event`` (or has hung up); ``TimeoutError`` at ``deadline``."""
    poller = select.poll()
    poller.register(fd, event)
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError
        if poller.poll(None if left is None else max(1, math.ceil(left * 1000))):
            return


# ----------------------------------------------------------------------------------------------- values

def encode(value: Any, bufs: list[bytes], ref: Callable[[Any], dict] | None = None, depth: int = 0) -> dict:
    """A tagged tree for ``value``; raw bytes of arrays go to ``bufs``; ``ref`` names what is not data."""
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, int) and not isinstance(value, np.integer):
        return {"t": "int", "v": int(value)}
    if isinstance(value, float):
        return {"t": "float", "v": _float_text(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": str(value)}
    if isinstance(value, np.generic) and np.dtype(value.dtype).name in NUMPY_DTYPES:
        bufs.append(np.asarray(value).tobytes())
        return {"t": "npscalar", "dtype": np.dtype(value.dtype).name, "buf": len(bufs) - 1}
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.dtype not in _TORCH_NAMES or t.is_sparse or t.is_quantized or t.is_complex():
            return _ref(value, ref)
        t = t.to("cpu").contiguous()
        bufs.append(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        return {"t": "tensor", "dtype": _TORCH_NAMES[t.dtype], "shape": list(t.shape), "buf": len(bufs) - 1,
                "rg": bool(value.requires_grad)}
    if isinstance(value, np.ndarray):
        if value.dtype.name not in NUMPY_DTYPES:
            return _ref(value, ref)
        bufs.append(np.ascontiguousarray(value).tobytes())
        return {"t": "ndarray", "dtype": value.dtype.name, "shape": list(value.shape), "buf": len(bufs) - 1}
    if isinstance(value, torch.dtype) and value in _TORCH_NAMES:
        return {"t": "dtype", "v": _TORCH_NAMES[value]}
    if isinstance(value, torch.Generator):
        bufs.append(value.get_state().numpy().tobytes())
        return {"t": "generator", "buf": len(bufs) - 1}
    if isinstance(value, np.random.Generator) and isinstance(value.bit_generator, np.random.PCG64):
        return {"t": "np_generator", "state": _pcg_state(value.bit_generator.state)}
    if isinstance(value, (list, tuple)):  # torch.Size and named tuples travel as tuples
        tag = "list" if isinstance(value, list) else "tuple"
        return {"t": tag, "items": [encode(v, bufs, ref, depth + 1) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
        return {"t": "dict", "items": [[encode(k, bufs, ref, depth + 1), encode(v, bufs, ref, depth + 1)]
                                       for k, v in value.items()]}
    return _ref(value, ref)


def _ref(value: Any, ref: Callable[[Any], dict] | None) -> dict:
    if ref is None:
        raise WireError(f"a value of type {type(value).__name__} cannot be sent")
    return ref(value)


def _float_text(x: float) -> str | float:
    return x if math.isfinite(x) else repr(x)  # JSON has no nan/inf: send them as text


class Budget:
    """What decoding one message may still build: values and bytes (shared by every ``decode`` of the message)."""

    def __init__(self, items: int = MAX_ITEMS, nbytes: int = MAX_DECODED) -> None:
        self.items, self.nbytes = items, nbytes

    def take(self, nbytes: int = 0) -> None:
        self.items -= 1
        self.nbytes -= nbytes
        if self.items < 0:
            raise WireError(f"a message that holds more than {MAX_ITEMS} values")
        if self.nbytes < 0:
            raise WireError(f"a message whose values need more than {MAX_DECODED // 2**20} MiB")


def decode(node: Any, bufs: list[bytes], ref: Callable[[dict], Any] | None = None, depth: int = 0,
           budget: Budget | None = None) -> Any:
    """Build a value from a tagged tree, strictly: exact types, shapes from the data, known dtypes only.

    ``budget``: the message's, when several values of one message are decoded (each call makes its own otherwise).
    """
    budget = budget if budget is not None else Budget()
    budget.take()
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if not isinstance(node, dict) or not isinstance(node.get("t"), str):
        raise WireError("a value without a type tag")
    t = node["t"]
    if t == "none":
        return None
    if t == "bool":
        return _exact(node.get("v"), bool)
    if t == "int":
        return _exact(node.get("v"), int)
    if t == "float":
        v = node.get("v")
        if isinstance(v, str) and v in ("nan", "inf", "-inf"):
            return float(v)
        if type(v) in (int, float):
            return float(v)
        raise WireError("a float that is not a number")
    if t == "str":
        v = _exact(node.get("v"), str)
        if len(v) > MAX_STR:
            raise WireError("a string over the size limit")
        budget.take(4 * len(v))
        return clean_text(v, controls=False)
    if t == "npscalar":
        dtype = _dtype(node, NUMPY_DTYPES)
        raw = _buf(node, bufs, dtype.itemsize, budget)
        return np.frombuffer(raw, dtype=dtype)[0].copy()
    if t == "ndarray":
        dtype = _dtype(node, NUMPY_DTYPES)
        shape = _shape(node)
        raw = _buf(node, bufs, dtype.itemsize * math.prod(shape), budget)
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    if t == "tensor":
        dtype = _dtype(node, TORCH_DTYPES)
        shape = _shape(node)
        itemsize = torch.empty((), dtype=dtype).element_size()
        raw = _buf(node, bufs, itemsize * math.prod(shape), budget)
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        return flat.view(dtype).reshape(shape).clone()
    if t == "dtype":
        return _dtype({"dtype": node.get("v")}, TORCH_DTYPES)
    if t == "generator":
        raw = bufs[_index(node, bufs)]
        budget.take(len(raw))
        gen = torch.Generator()
        try:
            gen.set_state(torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone())
        except (RuntimeError, ValueError):
            raise WireError("a generator state that torch refuses") from None
        return gen
    if t == "np_generator":
        gen = np.random.Generator(np.random.PCG64())
        try:
            gen.bit_generator.state = _pcg_state(node.get("state"))
        except (TypeError, ValueError, KeyError):
            raise WireError("a numpy generator state that numpy refuses") from None
        return gen
    if t in ("list", "tuple"):
        items = node.get("items")
        if not isinstance(items, list):
            raise WireError("a sequence without items")
        seq = [decode(v, bufs, ref, depth + 1, budget) for v in items]
        return seq if t == "list" else tuple(seq)
    if t == "dict":
        items = node.get("items")
        if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
            raise WireError("a dict without key-value pairs")
        out = {}
        for k, v in items:
            key = decode(k, bufs, None, depth + 1, budget)
            if type(key) not in (str, int):
                raise WireError("a dict key that is not a string or an integer")
            out[key] = decode(v, bufs, ref, depth + 1, budget)
        return out
    if t in ("callable", "handle"):
        if ref is None or type(node.get("id")) is not int:
            raise WireError(f"a {t} reference where none is allowed")
        return ref(node)
    raise WireError(f"an unknown value type {t!r}")


def _pcg_state(state: Any) -> dict:
    """A PCG64 bit generator's state, checked field by field (integers travel as decimal text)."""
    try:
        inner = state["state"]
        return {"bit_generator": "PCG64", "state": {"state": int(inner["state"]), "inc": int(inner["inc"])},
                "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}
    except (TypeError, KeyError, ValueError):
        raise WireError("a malformed numpy generator state") from None


def _exact(v: Any, typ: type) -> Any:
    if type(v) is not typ:
        raise WireError(f"expected a {typ.__name__}, got {type(v).__name__}")
    return v


def _dtype(node: dict, table: dict) -> Any:
    name = node.get("dtype")
    if not isinstance(name, str) or name not in table:
        raise WireError(f"a dtype that is not allowed: {str(name)[:40]!r}")
    return table[name]


def _shape(node: dict) -> tuple[int, ...]:
    shape = node.get("shape")
    if not isinstance(shape, list) or len(shape) > 16 or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
        raise WireError("a shape that is not a short list of non-negative integers")
    return tuple(shape)


def _index(node: dict, bufs: list[bytes]) -> int:
    i = node.get("buf")
    if type(i) is not int or not 0 <= i < len(bufs):
        raise WireError("a reference to a buffer that does not exist")
    return i


def _buf(node: dict, bufs: list[bytes], size: int, budget: Budget) -> bytes:
    raw = bufs[_index(node, bufs)]
    if len(raw) != size:
        raise WireError(f"{len(raw)} bytes where dtype and shape need {size}")
    budget.take(size)  # the copy that decoding makes
    return raw
