"""Chapter 06_language_model: answers that change their inputs in place."""
import numpy as np

import rnncourse.hidden_units as ref_units
import rnncourse.lm as ref
from autograder.checks.ch06_language_model import (check_bits_per_char, check_CharRNNLM, check_detach_state,
                                                   check_find_unit, check_lm_loss, check_make_lm_pairs,
                                                   check_perplexity)
from tests.checks_purity import Adversary, change_in_place, mutate_then_match


def shifts_ids(ids, bos_id, eos_id):
    ids.add_(1)
    return ref.make_lm_pairs(ids, bos_id, eos_id)


class ZeroesItsInput(ref.CharRNNLM):
    def forward(self, x, state=None):
        x.zero_()
        change_in_place(state)
        return super().forward(x, state)


def centres_acts(acts, prop):
    acts -= np.mean(acts, axis=0)  # the correlations stay the same, so only a purity check sees it
    return ref_units.find_unit(acts, prop)


CASES = {
    "make_lm_pairs": Adversary(check_make_lm_pairs, shifts_ids, "adds 1 to ids in place, then pairs them"),
    "lm_loss": Adversary(check_lm_loss, mutate_then_match(ref.lm_loss), "overwrites logits"),
    "perplexity": Adversary(check_perplexity, mutate_then_match(ref.perplexity), "overwrites a tensor mean_nll"),
    "bits_per_char": Adversary(check_bits_per_char, mutate_then_match(ref.bits_per_char),
                               "overwrites a tensor mean_nll"),
    "detach_state": Adversary(check_detach_state, mutate_then_match(ref.detach_state), "overwrites the state"),
    "CharRNNLM": Adversary(check_CharRNNLM, ZeroesItsInput, "forward zeroes the token ids x and the state in place"),
    "find_unit": Adversary(check_find_unit, centres_acts, "centres acts in place (same answer)"),
}
