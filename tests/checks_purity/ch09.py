"""Chapter 09_captioning: answers that change their inputs in place."""
import rnncourse.bleu_score as ref_bleu
import rnncourse.captioning as ref
from autograder.checks.ch09_captioning import (check_bleu, check_conditioned_gru_step, check_init_state_from_features,
                                               check_modified_precision, check_spatial_attention)
from tests.checks_purity import Adversary, mutate_then_match


def copies_a_reference(score):
    """Scores a hypothesis after replacing its tokens in place with those of the first reference."""
    def answer(hypothesis, references, *args):
        hypothesis[:] = references[0]
        return score(hypothesis, references, *args)
    return answer


CASES = {
    "init_state_from_features": Adversary(check_init_state_from_features,
                                          mutate_then_match(ref.init_state_from_features), "overwrites features, W, b"),
    "conditioned_gru_step": Adversary(check_conditioned_gru_step, mutate_then_match(ref.conditioned_gru_step),
                                      "overwrites the inputs and weights"),
    "modified_precision": Adversary(check_modified_precision, copies_a_reference(ref_bleu.modified_precision),
                                    "copies the first reference into the hypothesis list"),
    "bleu": Adversary(check_bleu, copies_a_reference(ref_bleu.bleu), "copies the first reference into the hypothesis"),
    "spatial_attention": Adversary(check_spatial_attention, mutate_then_match(ref.spatial_attention),
                                   "overwrites h, the grid and the weights"),
}
