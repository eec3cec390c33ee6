"""Chapter 02_bptt: every exercise's check against an answer that overwrites its inputs.

``numerical_gradient`` is asked to perturb ``x`` in place and to restore it: its adversary returns the right
gradient and leaves ``x`` changed."""
import rnncourse.bptt as ref
from autograder.checks import ch02_bptt as chk
from tests.checks_purity import Adversary, change_in_place, mutate_then_match

WHY = "overwrites its float inputs with 0.25, then returns the reference's gradients on them"


def numerical_gradient_not_restored(f, x, eps=1e-5):
    grad = ref.numerical_gradient(f, x, eps)
    change_in_place(x)
    return grad


CASES = {
    "rnn_step_backward": Adversary(chk.check_rnn_step_backward, mutate_then_match(ref.rnn_step_backward), WHY),
    "rnn_backward": Adversary(chk.check_rnn_backward, mutate_then_match(ref.rnn_backward), WHY),
    "numerical_gradient": Adversary(chk.check_numerical_gradient, numerical_gradient_not_restored,
                                    "returns the right gradient, then overwrites x with 0.25 instead of restoring it"),
    "truncated_rnn_backward": Adversary(chk.check_truncated_rnn_backward,
                                       mutate_then_match(ref.truncated_rnn_backward), WHY),
}
