"""Chapter 07_sampling: answers that change their inputs, or what the step function returns, in place."""
import rnncourse.sampling as ref
from autograder.checks.ch07_sampling import (check_beam_search, check_greedy_decode, check_sample_sequence,
                                             check_temperature_softmax, check_top_k_filter, check_top_p_filter)
from tests.checks_purity import Adversary, change_in_place, mutate_then_match


def overwrites_step_outputs(reference):
    """A decoder that overwrites each log-probability tensor its step function returns, then decodes with the
    reference: a check whose step function hands out its own table (and reads it afterwards) is fooled."""
    def answer(step_fn, *args, **kwargs):
        def step(prefix):
            logp = step_fn(prefix)
            change_in_place(logp)
            return logp
        return reference(step, *args, **kwargs)
    return answer


CASES = {
    "temperature_softmax": Adversary(check_temperature_softmax, mutate_then_match(ref.temperature_softmax),
                                     "overwrites logits"),
    "top_k_filter": Adversary(check_top_k_filter, mutate_then_match(ref.top_k_filter), "overwrites logits"),
    "top_p_filter": Adversary(check_top_p_filter, mutate_then_match(ref.top_p_filter), "overwrites logits"),
    "greedy_decode": Adversary(check_greedy_decode, overwrites_step_outputs(ref.greedy_decode),
                               "overwrites the step function's log-probabilities"),
    "beam_search": Adversary(check_beam_search, overwrites_step_outputs(ref.beam_search),
                             "overwrites the step function's log-probabilities"),
    "sample_sequence": Adversary(check_sample_sequence, overwrites_step_outputs(ref.sample_sequence),
                                 "overwrites the step function's log-probabilities"),
}
