"""Calls from the grader into a real kernel: a repeated call is the same as that many calls in a row."""
from __future__ import annotations

import time

import pytest
import torch

from autograder.kernels import KernelGone, Zygote
from autograder.limits import Limits
from autograder.remote import Session
from autograder.source_rules import prelude

DRAW = "def draw(step_fn, n, generator=None):\n" \
       "    p = torch.softmax(step_fn([0]), -1)\n" \
       "    return [int(t) for t in torch.multinomial(p, n, replacement=True, generator=generator)]\n"


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


@pytest.fixture()
def session(zygote):
    process = zygote.spawn(Limits(), prelude("07_sampling"))
    s = Session(process, time.monotonic() + 120)
    s.wait_ready()
    yield s
    process.kill()


def step_fn(prefix):
    return torch.tensor([0.1, 2.0, 0.3, 1.0])


def test_a_repeated_call_returns_what_as_many_calls_in_a_row_return_and_advances_the_generator_alike(session):
    assert not session.exec(DRAW)["error"]
    draw = session.proxy("draw")
    one_by_one, g1 = [], torch.Generator().manual_seed(7)
    for _ in range(50):
        one_by_one.append(draw(step_fn, 3, generator=g1))
    g2 = torch.Generator().manual_seed(7)
    assert draw.repeat(50, step_fn, 3, generator=g2) == one_by_one
    assert torch.equal(g1.get_state(), g2.get_state()), "the grader's generator follows the kernel's"


def test_a_repeated_call_that_raises_raises_in_the_grader(session):
    assert not session.exec("def boom(x):\n    raise ValueError(f'bad {x}')\n")["error"]
    with pytest.raises(ValueError, match="bad 3"):
        session.proxy("boom").repeat(4, 3)


@pytest.mark.parametrize("n", [0, 10_001, 2.0])
def test_a_repeat_count_out_of_bounds_is_refused(session, n):
    assert not session.exec("def one():\n    return 1\n")["error"]
    with pytest.raises((ValueError, KernelGone)):
        session.proxy("one").repeat(n)
