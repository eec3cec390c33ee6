"""Chapter 02_bptt: every exercise's check against an answer that overwrites its inputs.

``numerical_gradient`` is asked to perturb ``x`` in place and to restore it: its adversary returns the right
gradient and leaves ``x`` changed."""
import rnncourse.bptt as ref
from autograder.checks import ch02_bptt as chk
from tests.checks_purity import Adversary, change_in_place, overwriting


def numerical_gradient_not_restored(f, x, eps=1e-5):
    grad = ref.numerical_gradient(f, x, eps)
    change_in_place(x)
    return grad


CASES = {
    **overwriting(chk, ref, "rnn_step_backward", "rnn_backward", "truncated_rnn_backward"),
    "numerical_gradient": Adversary(chk.check_numerical_gradient, numerical_gradient_not_restored,
                                    "returns the right gradient, then overwrites x with 0.25 instead of restoring it"),
}
