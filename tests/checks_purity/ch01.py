"""Chapter 01_rnn: every exercise's check against an answer that overwrites its inputs."""
import rnncourse.rnn as ref
from autograder.checks import ch01_rnn as chk
from tests.checks_purity import Adversary, mutate_then_match

WHY = "overwrites its float inputs with 0.25, then returns the reference's value on them"

CASES = {
    "rnn_step": Adversary(chk.check_rnn_step, mutate_then_match(ref.rnn_step), WHY),
    "rnn_forward": Adversary(chk.check_rnn_forward, mutate_then_match(ref.rnn_forward), WHY),
    "softmax": Adversary(chk.check_softmax, mutate_then_match(ref.softmax), WHY),
    "cross_entropy": Adversary(chk.check_cross_entropy, mutate_then_match(ref.cross_entropy),
                               "overwrites logits with 0.25, then returns the reference's loss on them (log V)"),
}
