"""Chapters 1–5, every check: the reference passes the hidden cases of many students, two students get
different cases, and an answer of the wrong type fails with a message (chapters 6–9 test the same in their
own check tests, with their own wrong answers)."""
from __future__ import annotations

import pytest

import rnncourse.bptt as bptt
import rnncourse.clipping as clipping
import rnncourse.gru as gru
import rnncourse.lstm as lstm
import rnncourse.rnn as rnn
from autograder.checks import ch01_rnn, ch02_bptt, ch03_clipping, ch04_lstm, ch05_gru
from tests.check_suites import fails_cleanly, passes_for_students, returning, students_get_different_cases

CHECKS = [(ch01_rnn.check_rnn_step, rnn.rnn_step), (ch01_rnn.check_rnn_forward, rnn.rnn_forward),
          (ch01_rnn.check_softmax, rnn.softmax), (ch01_rnn.check_cross_entropy, rnn.cross_entropy),
          (ch02_bptt.check_rnn_step_backward, bptt.rnn_step_backward), (ch02_bptt.check_rnn_backward, bptt.rnn_backward),
          (ch02_bptt.check_numerical_gradient, bptt.numerical_gradient),
          (ch02_bptt.check_truncated_rnn_backward, bptt.truncated_rnn_backward),
          (ch03_clipping.check_hidden_jacobian, clipping.hidden_jacobian),
          (ch03_clipping.check_jacobian_norms, clipping.jacobian_norms),
          (ch03_clipping.check_global_grad_norm, clipping.global_grad_norm),
          (ch03_clipping.check_clip_grad_norm, clipping.clip_grad_norm),
          (ch03_clipping.check_clip_grad_value, clipping.clip_grad_value),
          (ch03_clipping.check_orthogonal_init, clipping.orthogonal_init),
          (ch04_lstm.check_lstm_from_rnn, lstm.lstm_from_rnn), (ch04_lstm.check_lstm_step, lstm.lstm_step),
          (ch04_lstm.check_lstm_forward, lstm.lstm_forward), (ch04_lstm.check_init_forget_bias, lstm.init_forget_bias),
          (ch04_lstm.check_peephole_lstm_step, lstm.peephole_lstm_step),
          (ch05_gru.check_gru_step, gru.gru_step), (ch05_gru.check_gru_from_rnn, gru.gru_from_rnn),
          (ch05_gru.check_cho_gru_step, gru.cho_gru_step), (ch05_gru.check_gru_forward, gru.gru_forward),
          (ch05_gru.check_rnn_param_counts, gru.rnn_param_counts)]
FIXED_CASES = {ch05_gru.check_rnn_param_counts}  # checked on fixed sizes, the same for every student
IDS = [check.__name__ for check, _ in CHECKS]


@pytest.mark.parametrize("check,reference", CHECKS, ids=IDS)
def test_the_reference_passes_the_cases_of_many_students(check, reference):
    passes_for_students(check, reference)


@pytest.mark.parametrize("check,reference", [c for c in CHECKS if c[0] not in FIXED_CASES],
                         ids=[i for c, i in zip(CHECKS, IDS) if c[0] not in FIXED_CASES])
def test_students_get_different_cases(check, reference):
    students_get_different_cases(check, reference)


@pytest.mark.parametrize("check", [c for c, _ in CHECKS], ids=IDS)
def test_a_wrong_type_fails_with_a_message(check):
    fails_cleanly(check, [returning(None), returning("x")], match="should be|should return")
