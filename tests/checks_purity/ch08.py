"""Chapter 08_seq2seq_attention: answers that change their inputs in place."""
import rnncourse.attention as ref
import rnncourse.seq2seq as ref_s2s
from autograder.checks.ch08_seq2seq_attention import (check_additive_attention, check_attention_decoder_step,
                                                      check_dot_attention, check_make_decoder_io)
from tests.checks_purity import Adversary, mutate_then_match


def pads_targets(targets, lengths, bos_id, eos_id, pad_id):
    targets.fill_(pad_id)
    lengths.zero_()
    return ref_s2s.make_decoder_io(targets, lengths, bos_id, eos_id, pad_id)


CASES = {
    "make_decoder_io": Adversary(check_make_decoder_io, pads_targets,
                                 "overwrites the integer targets with padding and the lengths with 0"),
    "dot_attention": Adversary(check_dot_attention, mutate_then_match(ref.dot_attention),
                               "overwrites query, keys and values"),
    "additive_attention": Adversary(check_additive_attention, mutate_then_match(ref.additive_attention),
                                    "overwrites the inputs and the weights"),
    "attention_decoder_step": Adversary(check_attention_decoder_step,
                                        mutate_then_match(ref_s2s.attention_decoder_step),
                                        "overwrites the embeddings, states and weights (the cell is left alone)"),
}
