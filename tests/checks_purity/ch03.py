"""Chapter 03_clipping: every exercise's check against an answer that changes its inputs.

Both clipping exercises ask for new arrays (the inputs must not change). ``orthogonal_init`` has no array
input; its adversary overwrites the state of its ``rng`` argument with a fixed one before drawing."""
import numpy as np

import rnncourse.clipping as ref
from autograder.checks import ch03_clipping as chk
from tests.checks_purity import Adversary, overwriting
_FIXED_STATE = np.random.default_rng(0).bit_generator.state


def orthogonal_init_reseeding(n, rng):
    rng.bit_generator.state = _FIXED_STATE
    return ref.orthogonal_init(n, rng)


CASES = {
    **overwriting(chk, ref, "hidden_jacobian", "jacobian_norms", "global_grad_norm", "clip_grad_norm",
                  "clip_grad_value"),
    "orthogonal_init": Adversary(chk.check_orthogonal_init, orthogonal_init_reseeding,
                                 "sets the rng argument's state to a fixed one, then draws the reference's matrix"),
}
