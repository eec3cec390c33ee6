"""Chapter 01_rnn: every exercise's check against an answer that overwrites its inputs."""
import rnncourse.rnn as ref
from autograder.checks import ch01_rnn as chk
from tests.checks_purity import Adversary, mutate_then_match, overwriting

CASES = {
    **overwriting(chk, ref, "rnn_step", "rnn_forward", "softmax"),
    "cross_entropy": Adversary(chk.check_cross_entropy, mutate_then_match(ref.cross_entropy),
                               "overwrites logits with 0.25, then returns the reference's loss on them (log V)"),
}
