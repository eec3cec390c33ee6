"""Chapter 04_lstm: every exercise's check against an answer that overwrites its inputs."""
import rnncourse.lstm as ref
from autograder.checks import ch04_lstm as chk
from tests.checks_purity import overwriting

CASES = overwriting(chk, ref, "lstm_from_rnn", "lstm_step", "lstm_forward", "init_forget_bias", "peephole_lstm_step")
