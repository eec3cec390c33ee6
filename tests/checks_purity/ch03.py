"""Chapter 03_clipping: every exercise's check against an answer that changes its inputs.

Both clipping exercises ask for new arrays (the inputs must not change). ``orthogonal_init`` has no array
input; its adversary overwrites the state of its ``rng`` argument with a fixed one before drawing."""
import numpy as np

import rnncourse.clipping as ref
from autograder.checks import ch03_clipping as chk
from tests.checks_purity import Adversary, mutate_then_match

WHY = "overwrites its float inputs with 0.25, then returns the reference's value on them"
_FIXED_STATE = np.random.default_rng(0).bit_generator.state


def orthogonal_init_reseeding(n, rng):
    rng.bit_generator.state = _FIXED_STATE
    return ref.orthogonal_init(n, rng)


CASES = {
    "hidden_jacobian": Adversary(chk.check_hidden_jacobian, mutate_then_match(ref.hidden_jacobian), WHY),
    "jacobian_norms": Adversary(chk.check_jacobian_norms, mutate_then_match(ref.jacobian_norms), WHY),
    "global_grad_norm": Adversary(chk.check_global_grad_norm, mutate_then_match(ref.global_grad_norm), WHY),
    "clip_grad_norm": Adversary(chk.check_clip_grad_norm, mutate_then_match(ref.clip_grad_norm), WHY),
    "clip_grad_value": Adversary(chk.check_clip_grad_value, mutate_then_match(ref.clip_grad_value), WHY),
    "orthogonal_init": Adversary(chk.check_orthogonal_init, orthogonal_init_reseeding,
                                 "sets the rng argument's state to a fixed one, then draws the reference's matrix"),
}
