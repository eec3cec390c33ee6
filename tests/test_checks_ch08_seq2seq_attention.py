"""Hidden checks of chapter 08: correct implementations written differently pass; named mistakes fail with a hint."""
import math

import pytest
import torch

import rnncourse.attention as ref
import rnncourse.seq2seq as ref_s2s
from autograder.checks import CheckFailure
from autograder.checks.ch08_seq2seq_attention import (check_additive_attention, check_attention_decoder_step,
                                                      check_dot_attention, check_make_decoder_io)
from tests.checks_purity import mutate_then_match
from tests.check_suites import fails_cleanly, nan_like, passes_for_students, returning

NEG = float("-inf")


# ----------------------------------------------------------------------------- dot_attention

def dot_einsum(q, K, V, mask=None, scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.einsum("bsh,bh->bs", K, q) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG)
    w = torch.softmax(scores, dim=1)
    return torch.einsum("bs,bse->be", w, V), w


def dot_renormalised(q, K, V, mask=None, scale=None):  # mask after the softmax, then renormalised: also right
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = (K @ q[:, :, None])[:, :, 0] * scale
    w = torch.exp(scores - scores.max(-1, keepdim=True).values)
    if mask is not None:
        w = w * mask
    w = w / w.sum(-1, keepdim=True)
    return (w[:, :, None] * V).sum(1), w


def dot_big_negative(q, K, V, mask=None, scale=None):
    scale = 1 / q.shape[-1] ** 0.5 if scale is None else scale
    scores = scale * (K * q[:, None]).sum(-1)
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, -1e9))
    w = scores.softmax(-1)
    return w.unsqueeze(1).bmm(V).squeeze(1), w


def dot_loop(q, K, V, mask=None, scale=None):
    contexts, weights = [], []
    for b in range(q.shape[0]):
        s = (K[b] @ q[b]) * (scale if scale is not None else 1 / math.sqrt(q.shape[1]))
        if mask is not None:
            s = s.masked_fill(~mask[b], NEG)
        w = torch.softmax(s, 0)
        contexts.append(w @ V[b])
        weights.append(w)
    return torch.stack(contexts), torch.stack(weights)


@pytest.mark.parametrize("impl", [ref.dot_attention, dot_einsum, dot_renormalised, dot_big_negative, dot_loop])
def test_dot_attention_correct(impl):
    check_dot_attention(impl)


def dot_variant(scale_rule=None, softmax_dim=-1, mask_rule="before", values="values"):
    def impl(q, K, V, mask=None, scale=None):
        H = q.shape[-1]
        s = {None: (1 / math.sqrt(H) if scale is None else scale), "none": 1.0, "H": 1 / H,
             "ignore_arg": 1 / math.sqrt(H)}[scale_rule]
        scores = torch.einsum("bsh,bh->bs", K, q) * s
        if mask is not None and mask_rule == "before":
            scores = scores.masked_fill(~mask, NEG)
        if mask is not None and mask_rule == "inverted":
            scores = scores.masked_fill(mask, NEG)
        if mask is not None and mask_rule == "zero":
            scores = scores.masked_fill(~mask, 0.0)
        w = torch.softmax(scores, dim=softmax_dim)
        if mask is not None and mask_rule == "after":
            w = w * mask
        return torch.einsum("bs,bse->be", w, K if values == "keys" else V), w
    return impl


def dot_detached(q, K, V, mask=None, scale=None):
    c, w = ref.dot_attention(q.detach(), K.detach(), V.detach(), mask, scale)
    return c, w


def dot_in_place(q, K, V, mask=None, scale=None):
    q.mul_(1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    return ref.dot_attention(q, K, V, mask, 1.0)


@pytest.mark.parametrize("impl,message", [
    (dot_variant(scale_rule="none"), "not scaled: multiply the dot products by scale = 1/sqrt\\(H\\)"),
    (dot_variant(scale_rule="H"), "divided by H instead of sqrt\\(H\\)"),
    (dot_variant(scale_rule="ignore_arg"), "the scale argument is ignored"),
    (dot_variant(softmax_dim=0), "softmax is taken over the batch axis"),
    (dot_variant(mask_rule="after"), "mask is applied after the softmax without renormalising"),
    (dot_variant(mask_rule="inverted"), "mask is inverted"),
    (dot_variant(mask_rule="ignored"), "mask is ignored"),
    (dot_variant(mask_rule="zero"), "score 0 instead of -inf"),
    (dot_variant(values="keys"), "averages the keys instead of the values"),
    (dot_detached, "not differentiable"),
    (dot_in_place, "modified its input query"),
    (lambda q, K, V, mask=None, scale=None: ref.dot_attention(q, K, V, mask, scale)[::-1], "weights has shape"),
])
def test_dot_attention_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_dot_attention(impl)


# ----------------------------------------------------------------------------- additive_attention

def additive_explicit(q, K, V, W_q, W_k, v, mask=None):
    pre = torch.einsum("ah,bh->ba", W_q, q)[:, None, :] + torch.einsum("ak,bsk->bsa", W_k, K)
    scores = torch.einsum("bsa,a->bs", torch.tanh(pre), v)
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(NEG, dtype=scores.dtype))
    w = torch.softmax(scores, -1)
    return torch.einsum("bs,bse->be", w, V), w


def additive_loop(q, K, V, W_q, W_k, v, mask=None):
    B, S = K.shape[:2]
    cols = []
    for s in range(S):
        cols.append(torch.tanh(q @ W_q.T + K[:, s] @ W_k.T) @ v)  # (B,)
    scores = torch.stack(cols, 1)
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG)
    w = torch.softmax(scores, 1)
    return (w[..., None] * V).sum(1), w


@pytest.mark.parametrize("impl", [ref.additive_attention, additive_explicit, additive_loop])
def test_additive_attention_correct(impl):
    check_additive_attention(impl)


def additive_variant(kind):
    def impl(q, K, V, W_q, W_k, v, mask=None):
        if kind == "swap":
            W_q, W_k = W_k, W_q
        pre = (q @ W_q.T)[:, None] + K @ W_k.T
        scores = (pre if kind == "no_tanh" else torch.tanh(pre)) @ v
        if kind == "scaled":
            scores = scores / math.sqrt(v.shape[0])
        w = torch.softmax(scores.masked_fill(~mask, NEG) if mask is not None and kind != "after" else scores,
                          dim=0 if kind == "dim0" else -1)
        if kind == "after" and mask is not None:
            w = w * mask
        return (w[..., None] * V).sum(1), w
    return impl


@pytest.mark.parametrize("impl,message", [
    (additive_variant("no_tanh"), "tanh is missing"),
    (additive_variant("scaled"), "scaled by 1/sqrt\\(A\\)"),
    (additive_variant("swap"), "W_q and W_k are swapped|differs|has shape|raised"),
    (additive_variant("dim0"), "softmax is taken over the batch axis"),
    (additive_variant("after"), "mask is applied after the softmax"),
    (lambda q, K, V, W_q, W_k, v, mask=None: tuple(t.detach() for t in ref.additive_attention(q, K, V, W_q, W_k, v, mask)),
     "not differentiable"),
])
def test_additive_attention_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_additive_attention(impl)


# ----------------------------------------------------------------------------- attention_decoder_step

def step_explicit(cell, y, h_prev, enc, mask, W_c, b_c, W_out, b_out):
    h = cell(y, h_prev)
    scores = (enc @ h[:, :, None]).squeeze(2) / math.sqrt(h.shape[1])
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG)
    w = torch.softmax(scores, -1)
    ctx = (w[:, :, None] * enc).sum(1)
    H = h.shape[1]
    h_t = torch.tanh(ctx @ W_c[:, :H].T + h @ W_c[:, H:].T + b_c)  # W_c split into its two blocks
    return h_t @ W_out.T + b_out, h, w


@pytest.mark.parametrize("impl", [ref_s2s.attention_decoder_step, step_explicit])
def test_attention_decoder_step_correct(impl):
    check_attention_decoder_step(impl)


def step_variant(kind):
    def impl(cell, y, h_prev, enc, mask, W_c, b_c, W_out, b_out):
        h = cell(y, h_prev)
        query = h_prev if kind == "query_prev" else h
        ctx, w = ref.dot_attention(query, enc, enc, None if kind == "no_mask" else mask,
                                   1.0 if kind == "unscaled" else None)
        cat = torch.cat([h, ctx] if kind == "order" else [ctx, h], -1)
        pre = cat @ W_c.T + b_c
        h_t = pre if kind == "no_tanh" else torch.tanh(pre)
        logits = (h if kind == "logits_from_h" else h_t) @ W_out.T + b_out
        return logits, (h_prev if kind == "return_prev" else h), w
    return impl


@pytest.mark.parametrize("kind,message", [
    ("query_prev", "the query is h_prev"),
    ("unscaled", "not scaled"),
    ("no_mask", "mask is not passed on"),
    ("order", "the concatenation is \\[h_t; context\\]"),
    ("no_tanh", "tanh is missing"),
    ("logits_from_h", "logits are computed from h_t"),
    ("return_prev", "h_t is h_prev"),
])
def test_attention_decoder_step_mistakes(kind, message):
    with pytest.raises(CheckFailure, match=message):
        check_attention_decoder_step(step_variant(kind))


# ----------------------------------------------------------------------------- make_decoder_io

def io_loop(targets, lengths, bos_id, eos_id, pad_id):
    T, B = targets.shape
    dec_in = torch.full((T + 1, B), pad_id, dtype=targets.dtype)
    dec_out = torch.full((T + 1, B), pad_id, dtype=targets.dtype)
    for b in range(B):
        n = int(lengths[b])
        dec_in[0, b] = bos_id
        dec_in[1:, b] = targets[:, b]
        dec_out[:n, b] = targets[:n, b]
        dec_out[n, b] = eos_id
    return dec_in, dec_out


def io_scatter(targets, lengths, bos_id, eos_id, pad_id):
    T, B = targets.shape
    dec_in = torch.cat([torch.full_like(targets[:1], bos_id), targets])
    dec_out = torch.cat([targets, torch.full_like(targets[:1], pad_id)])
    return dec_in, dec_out.scatter(0, lengths[None].long(), eos_id)


@pytest.mark.parametrize("impl", [ref_s2s.make_decoder_io, io_loop, io_scatter])
def test_make_decoder_io_correct(impl):
    check_make_decoder_io(impl)


def io_eos_at_end(targets, lengths, bos_id, eos_id, pad_id):
    return (torch.cat([torch.full_like(targets[:1], bos_id), targets]),
            torch.cat([targets, torch.full_like(targets[:1], eos_id)]))


def io_eos_fills(targets, lengths, bos_id, eos_id, pad_id):
    dec_in, dec_out = ref_s2s.make_decoder_io(targets, lengths, bos_id, eos_id, pad_id)
    return dec_in, dec_out.masked_fill(torch.arange(dec_out.shape[0])[:, None] > lengths[None], eos_id)


def io_no_bos(targets, lengths, bos_id, eos_id, pad_id):
    dec_in, dec_out = ref_s2s.make_decoder_io(targets, lengths, bos_id, eos_id, pad_id)
    return torch.cat([targets, torch.full_like(targets[:1], pad_id)]), dec_out


def io_short(targets, lengths, bos_id, eos_id, pad_id):
    return targets.clone(), targets.clone()


def io_in_place(targets, lengths, bos_id, eos_id, pad_id):
    out = ref_s2s.make_decoder_io(targets, lengths, bos_id, eos_id, pad_id)
    targets[0] = bos_id
    return out


@pytest.mark.parametrize("impl,message", [
    (io_eos_at_end, "EOS is placed after the padding"),
    (io_eos_fills, "EOS fills the padding"),
    (io_no_bos, "dec_in is missing BOS"),
    (io_short, "BOS adds one step"),
    (lambda *a: ref_s2s.make_decoder_io(*a)[::-1], "dec_in and dec_out are swapped"),
    (io_in_place, "modified its input targets"),
    (lambda *a: tuple(t.double() for t in ref_s2s.make_decoder_io(*a)), "must be integer tensors"),
])
def test_make_decoder_io_mistakes(impl, message):
    with pytest.raises(CheckFailure, match=message):
        check_make_decoder_io(impl)


# ----------------------------------------------------------------------------- every student, every wrong type

CHECKS = [(check_dot_attention, ref.dot_attention), (check_additive_attention, ref.additive_attention),
          (check_attention_decoder_step, ref_s2s.attention_decoder_step), (check_make_decoder_io, ref_s2s.make_decoder_io)]


@pytest.mark.parametrize("check,impl", CHECKS + [(check_dot_attention, dot_loop), (check_dot_attention, dot_renormalised),
                                                 (check_additive_attention, additive_loop),
                                                 (check_attention_decoder_step, step_explicit),
                                                 (check_make_decoder_io, io_loop)])
def test_every_student_passes_with_a_correct_answer(check, impl):
    passes_for_students(check, impl)




GARBAGE = [None, "x", [1.0, 2.0], 3, float("nan"), torch.zeros(2, 3), torch.tensor(float("nan")), (None, None),
           (None, None, None), (torch.zeros(1), torch.zeros(1)), (torch.zeros(1),) * 3, ("x", 0.5)]


@pytest.mark.parametrize("check,impl", CHECKS)
def test_wrong_types_fail_cleanly(check, impl):
    answers = [returning(g) for g in GARBAGE]
    answers.append(lambda *a, **k: tuple(t.numpy() if isinstance(t, torch.Tensor) else t for t in impl(*a, **k)))
    if check is not check_make_decoder_io:
        answers.append(lambda *a, **k: nan_like(impl(*a, **k)))
    else:
        answers.append(lambda *a, **k: (impl(*a, **k)[0], impl(*a, **k)[1][:, :1]))
    fails_cleanly(check, answers)


def dot_detached_grad_only(q, K, V, mask=None, scale=None):
    c, w = ref.dot_attention(q, K, V, mask, scale)
    return (c, w) if not q.requires_grad else (c.detach(), w)


def dot_stops_keys_gradient(q, K, V, mask=None, scale=None):
    K.requires_grad_(False)  # only changes the gradient case, where keys is a leaf that requires grad
    return ref.dot_attention(q, K, V, mask, scale)


@pytest.mark.parametrize("check,impl,message", [
    (check_dot_attention, mutate_then_match(ref.dot_attention), "dot_attention modified its input query"),
    (check_dot_attention, lambda q, K, V, mask=None, scale=None: ref.dot_attention(
        q, K, V, None if mask is None else mask.fill_(True), scale), "dot_attention modified its input mask"),
    (check_dot_attention, dot_stops_keys_gradient, "modified its input keys"),
    (check_dot_attention, dot_detached_grad_only, "not differentiable"),
    (check_additive_attention, mutate_then_match(ref.additive_attention), "additive_attention modified its input query"),
    (check_attention_decoder_step, mutate_then_match(ref_s2s.attention_decoder_step),
     "attention_decoder_step modified its input y_emb"),
    (check_make_decoder_io, lambda t, l, *a: ref_s2s.make_decoder_io(t, l.clamp_(max=1), *a), "modified its input lengths"),
])
def test_input_changes_are_named(check, impl, message):
    with pytest.raises(CheckFailure, match=message):
        check(impl)
