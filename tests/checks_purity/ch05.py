"""Chapter 05_gru: every exercise's check against an answer that changes its inputs.

``rnn_param_counts`` takes two ints, which cannot change in place: its adversary answers for other inputs
(input_size and hidden_size swapped), as an answer that overwrote its inputs would."""
import rnncourse.gru as ref
from autograder.checks import ch05_gru as chk
from tests.checks_purity import Adversary, mutate_then_match

WHY = "overwrites its float tensors with 0.25, then returns the reference's value on them"


def param_counts_of_other_inputs(input_size, hidden_size):
    return ref.rnn_param_counts(hidden_size, input_size)


CASES = {
    "gru_step": Adversary(chk.check_gru_step, mutate_then_match(ref.gru_step), WHY),
    "gru_from_rnn": Adversary(chk.check_gru_from_rnn, mutate_then_match(ref.gru_from_rnn), WHY),
    "cho_gru_step": Adversary(chk.check_cho_gru_step, mutate_then_match(ref.cho_gru_step), WHY),
    "gru_forward": Adversary(chk.check_gru_forward, mutate_then_match(ref.gru_forward), WHY),
    "rnn_param_counts": Adversary(chk.check_rnn_param_counts, param_counts_of_other_inputs,
                                  "returns the reference's counts for input_size and hidden_size swapped"),
}
