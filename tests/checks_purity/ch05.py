"""Chapter 05_gru: every exercise's check against an answer that changes its inputs.

``rnn_param_counts`` takes two ints, which cannot change in place: its adversary answers for other inputs
(input_size and hidden_size swapped), as an answer that overwrote its inputs would."""
import rnncourse.gru as ref
from autograder.checks import ch05_gru as chk
from tests.checks_purity import Adversary, overwriting


def param_counts_of_other_inputs(input_size, hidden_size):
    return ref.rnn_param_counts(hidden_size, input_size)


CASES = {
    **overwriting(chk, ref, "gru_step", "gru_from_rnn", "cho_gru_step", "gru_forward"),
    "rnn_param_counts": Adversary(chk.check_rnn_param_counts, param_counts_of_other_inputs,
                                  "returns the reference's counts for input_size and hidden_size swapped"),
}
