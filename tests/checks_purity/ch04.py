"""Chapter 04_lstm: every exercise's check against an answer that overwrites its inputs."""
import rnncourse.lstm as ref
from autograder.checks import ch04_lstm as chk
from tests.checks_purity import Adversary, mutate_then_match

WHY = "overwrites its float tensors with 0.25, then returns the reference's value on them"

CASES = {
    "lstm_from_rnn": Adversary(chk.check_lstm_from_rnn, mutate_then_match(ref.lstm_from_rnn), WHY),
    "lstm_step": Adversary(chk.check_lstm_step, mutate_then_match(ref.lstm_step), WHY),
    "lstm_forward": Adversary(chk.check_lstm_forward, mutate_then_match(ref.lstm_forward), WHY),
    "init_forget_bias": Adversary(chk.check_init_forget_bias, mutate_then_match(ref.init_forget_bias), WHY),
    "peephole_lstm_step": Adversary(chk.check_peephole_lstm_step, mutate_then_match(ref.peephole_lstm_step), WHY),
}
