"""The channel's codec and frames: strict decoding within a budget, text that can always be written, deadlines."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from autograder import wire
from autograder.text import clean_text, clean_tree


def roundtrip(value):
    bufs: list[bytes] = []
    node = wire.encode(value, bufs)
    header, got = wire.unpack(wire.pack({"v": node}, bufs)[4:])
    return wire.decode(header["v"], got)


def test_plain_data_round_trips_with_exact_types():
    value = [np.arange(6.0).reshape(2, 3), torch.ones(2, dtype=torch.float32), 3, 2.5, "é", None, (True,),
             {"k": np.int64(4)}]
    got = roundtrip(value)
    assert np.array_equal(got[0], value[0]) and type(got[0]) is np.ndarray
    assert torch.equal(got[1], value[1]) and type(got[1]) is torch.Tensor
    assert got[2:6] == [3, 2.5, "é", None] and got[6] == (True,) and got[7]["k"] == 4


def test_one_buffer_referenced_many_times_counts_each_time():
    raw = bytes(8 * 2**20)
    node = {"t": "ndarray", "dtype": "uint8", "shape": [len(raw)], "buf": 0}
    assert wire.decode({"t": "list", "items": [node] * 15}, [raw]).__len__() == 15  # 120 MiB: within the budget
    with pytest.raises(wire.WireError, match="MiB"):
        wire.decode({"t": "list", "items": [node] * 17}, [raw])  # 136 MiB: refused before it is built


def test_the_budget_is_shared_by_every_value_of_one_message():
    raw = bytes(40 * 2**20)
    node = {"t": "ndarray", "dtype": "uint8", "shape": [len(raw)], "buf": 0}
    budget = wire.Budget()
    wire.decode(node, [raw], budget=budget)
    wire.decode(node, [raw], budget=budget)
    wire.decode(node, [raw], budget=budget)
    with pytest.raises(wire.WireError):
        wire.decode(node, [raw], budget=budget)


def test_too_many_values_and_too_deep_are_refused():
    with pytest.raises(wire.WireError, match="values"):
        wire.decode({"t": "list", "items": [{"t": "none"}] * (wire.MAX_ITEMS + 1)}, [])
    deep = {"t": "none"}
    for _ in range(wire.MAX_DEPTH + 2):
        deep = {"t": "list", "items": [deep]}
    with pytest.raises(wire.WireError, match="deeply"):
        wire.decode(deep, [])


@pytest.mark.parametrize("node", [{"t": "ndarray", "dtype": "object", "shape": [1], "buf": 0},
                                  {"t": "ndarray", "dtype": "float64", "shape": [2], "buf": 0},
                                  {"t": "ndarray", "dtype": "float64", "shape": [1], "buf": 5},
                                  {"t": "int", "v": True}, {"t": "float", "v": "1e3"}, {"t": "pickle"},
                                  {"t": "callable", "id": 1}, {"v": 1}, [1]])
def test_malformed_values_are_refused(node):
    with pytest.raises(wire.WireError):
        wire.decode(node, [bytes(8)])


def test_strings_from_the_peer_are_writable_text():
    got = wire.decode({"t": "str", "v": "a\ud800b"}, [])
    assert got == "a\ufffdb" and got.encode("utf-8")
    assert clean_text("x\x00y\n\tz\ud83d") == "x\ufffdy\n\tz\ufffd"
    tree = clean_tree({"m\udc00": ["\x07", {"k": "\ud800"}], "n": 1})
    assert json.dumps(tree, ensure_ascii=False).encode("utf-8") and tree["n"] == 1


def test_a_send_to_a_peer_that_stops_reading_ends_at_its_deadline():
    r, w = os.pipe()
    os.set_blocking(w, False)
    chan = wire.Channel(r, w)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        chan.send({"op": "return"}, [bytes(4 * 2**20)], timeout=0.5)  # far more than a pipe holds
    assert time.monotonic() - start < 3
    chan.close()


def test_a_receive_ends_at_its_deadline():
    r, w = os.pipe()
    chan = wire.Channel(r, w)
    with pytest.raises(TimeoutError):
        chan.recv(timeout=0.2)
    chan.close()
