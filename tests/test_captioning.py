"""Captioning: scenes and grammar, BLEU against brute-force counts, the decoder equations against torch.nn."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import rnncourse
from rnncourse.bleu_score import bleu, brevity_penalty, corpus_bleu, modified_precision
from rnncourse.captioning import (CaptionStepper, SceneEncoder, ShowAndTell, ShowAttendTell, attention_maps,
                                  attention_on_objects,
                                  caption_image, conditioned_gru_step, init_state_from_features, spatial_attention,
                                  train_captioner)
from rnncourse.sampling import greedy_decode
from rnncourse.scenes import (COLOURS, GRID, RELATIONS, SHAPES, Scene, SceneObject, WordVocab, is_true_caption,
                              make_captioning_data, mentioned_objects, parse_caption, random_scene, true_captions)

D64 = torch.float64


def rand(*shape, dtype=D64, requires_grad=False):
    return torch.randn(*shape, dtype=dtype).requires_grad_(requires_grad)


# ----------------------------------------------------------------------------- scenes and grammar

def test_same_seed_gives_the_same_data_and_another_seed_does_not():
    a, b, c = (make_captioning_data(20, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.images, b.images) and a.captions == b.captions and torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.images, c.images)


def test_every_scene_has_two_objects_in_one_row_or_column():
    rng = np.random.default_rng(0)
    for _ in range(300):
        s = random_scene(rng)
        a, b = s.first, s.second
        assert (a.row, a.col) != (b.row, b.col)
        assert a.row == b.row or a.col == b.col
        assert all(0 <= v < GRID for v in (a.row, a.col, b.row, b.col))
        assert a.colour in COLOURS and a.shape in SHAPES


def test_the_grammar_generates_only_valid_true_captions():
    data = make_captioning_data(200, seed=0)
    for scene, caption, refs in zip(data.scenes, data.captions, data.references):
        assert caption in refs and len(refs) == 2
        for ref in refs:
            parsed = parse_caption(ref)
            assert parsed is not None, ref
            (c1, s1), rel, (c2, s2) = parsed
            named = {(c1, s1), (c2, s2)}
            assert named == {(scene.first.colour, scene.first.shape), (scene.second.colour, scene.second.shape)}
            assert is_true_caption(ref, scene)


def test_relations_match_the_positions():
    left, right = SceneObject("red", "circle", 1, 0), SceneObject("blue", "square", 1, 2)
    assert true_captions(Scene(left, right)) == ["a red circle left of a blue square",
                                                "a blue square right of a red circle"]
    top, bottom = SceneObject("green", "triangle", 0, 2), SceneObject("yellow", "circle", 2, 2)
    assert true_captions(Scene(bottom, top)) == ["a yellow circle below a green triangle",
                                                "a green triangle above a yellow circle"]
    assert not is_true_caption("a red circle right of a blue square", Scene(left, right))
    assert not is_true_caption("a red square left of a blue square", Scene(left, right))


@pytest.mark.parametrize("bad", ["", "a red circle", "a red circle left a blue square", "red circle above a blue square",
                                 "a red circle above a blue", "a purple circle above a blue square",
                                 "a red circle above a blue square a"])
def test_parse_rejects_what_the_grammar_cannot_generate(bad):
    assert parse_caption(bad) is None


def test_the_grammar_has_exactly_the_expected_number_of_sentences():
    objects = [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    sentences = {f"{x} {r} {y}" for x in objects for r in RELATIONS for y in objects}
    assert len(sentences) == (len(COLOURS) * len(SHAPES)) ** 2 * len(RELATIONS)
    assert all(parse_caption(s) is not None for s in sentences)


def test_teacher_forcing_tensors_are_shifted_and_padded():
    data = make_captioning_data(30, seed=1)
    v = data.vocab
    for j, caption in enumerate(data.captions):
        ids = v.encode(caption)
        n = len(ids) + 1
        assert data.inputs[:n, j].tolist() == [v.bos_id] + ids
        assert data.targets[:n, j].tolist() == ids + [v.eos_id]
        assert (data.inputs[n:, j] == v.pad_id).all() and (data.targets[n:, j] == v.pad_id).all()
        assert v.decode(data.targets[:, j]) == caption


def test_images_are_rgb_in_unit_range_with_coloured_objects():
    data = make_captioning_data(10, seed=2)
    assert data.images.shape == (10, 3, 48, 48) and data.images.dtype == torch.float32
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    # the cell of the first object has pixels close to its colour
    s, img = data.scenes[0], data.images[0]
    cell = img[:, s.first.row * 16:(s.first.row + 1) * 16, s.first.col * 16:(s.first.col + 1) * 16]
    target = torch.tensor(COLOURS[s.first.colour]).view(3, 1, 1)
    assert ((cell - target).abs().amax(0) < 0.3).sum() >= 20


def test_vocab_round_trip_and_errors():
    v = WordVocab()
    assert v.tokens[:3] == ["<pad>", "<bos>", "<eos>"] and len(v) == 16
    ids = v.encode("a red circle above a blue square")
    assert v.decode([v.bos_id] + ids + [v.eos_id, v.pad_id]) == "a red circle above a blue square"
    with pytest.raises(ValueError, match="purple"):
        v.encode("a purple circle")


# ----------------------------------------------------------------------------- BLEU

def brute_ngrams(tokens, n):
    out = []
    for i in range(len(tokens)):
        if i + n <= len(tokens):
            out.append(tuple(tokens[i + k] for k in range(n)))
    return out


def brute_bleu(hyp, refs, max_n):
    logs = []
    for n in range(1, max_n + 1):
        grams = brute_ngrams(hyp, n)
        if not grams:
            return 0.0
        matched = 0
        for g in set(grams):
            matched += min(grams.count(g), max(brute_ngrams(r, n).count(g) for r in refs))
        if matched == 0:
            return 0.0
        logs.append(math.log(matched / len(grams)))
    r = sorted((abs(len(x) - len(hyp)), len(x)) for x in refs)[0][1]
    bp = 1.0 if len(hyp) > r else math.exp(1 - r / len(hyp))
    return bp * math.exp(sum(logs) / max_n)


def test_clipped_precision_of_the_papers_example():
    hyp = "the the the the the the the".split()
    refs = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    assert modified_precision(hyp, refs, 1) == (2, 7)


def test_bleu_matches_brute_force_counts_on_small_random_sentences():
    rng = np.random.default_rng(0)
    for _ in range(300):
        hyp = list(rng.integers(0, 3, rng.integers(1, 7)))
        refs = [list(rng.integers(0, 3, rng.integers(1, 7))) for _ in range(rng.integers(1, 4))]
        for max_n in (1, 2, 3):
            assert bleu(hyp, refs, max_n) == pytest.approx(brute_bleu(hyp, refs, max_n), abs=1e-12)


def test_bleu_extremes_and_brevity_penalty():
    ref = "a red circle left of a blue square".split()
    assert bleu(ref, [ref]) == 1.0
    assert bleu("a green triangle".split(), [ref]) == 0.0
    short = "a red circle left of a".split()
    assert bleu(short, [ref], max_n=1) == pytest.approx(math.exp(1 - 8 / 6))
    assert brevity_penalty(9, 8) == 1.0 and brevity_penalty(0, 8) == 0.0


def test_closest_reference_length_prefers_the_shorter_on_a_tie():
    hyp = list("abcde")  # 5 tokens, references of 4 and 6 tokens: r = 4, no penalty
    assert bleu(hyp, [list("abcd"), list("abcdef")], max_n=1) == pytest.approx(1.0)
    hyp = list("abcd")
    assert bleu(hyp, [list("abcde"), list("abc")], max_n=1) == pytest.approx(1.0)


def test_corpus_bleu_sums_counts_before_dividing():
    hyps = ["a b c d".split(), "a b x y".split()]
    refs = [["a b c d".split()], ["a b c d".split()]]
    expected = math.exp((math.log(6 / 8) + math.log(4 / 6) + math.log(2 / 4) + math.log(1 / 2)) / 4)
    assert corpus_bleu(hyps, refs) == pytest.approx(expected)
    assert corpus_bleu(hyps[:1], refs[:1]) == bleu(hyps[0], refs[0])
    assert bleu(hyps[1], refs[1]) == 0.0  # alone, the second sentence has no matching 3-gram


# ----------------------------------------------------------------------------- the decoder equations

def test_init_state_matches_tanh_of_nn_linear():
    lin = nn.Linear(5, 4).double()
    v = rand(3, 5)
    assert torch.allclose(init_state_from_features(v, lin.weight, lin.bias), torch.tanh(lin(v)), atol=1e-14)
    args = (rand(2, 3, requires_grad=True), rand(4, 3, requires_grad=True), rand(4, requires_grad=True))
    assert torch.autograd.gradcheck(init_state_from_features, args)


def test_conditioned_gru_step_matches_nn_grucell_on_the_concatenation():
    E, F_, H, B = 3, 4, 5, 2
    cell = nn.GRUCell(E + F_, H).double()
    x, v, h = rand(B, E), rand(B, F_), rand(B, H)
    got = conditioned_gru_step(x, v, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    assert torch.allclose(got, cell(torch.cat([x, v], 1), h), atol=1e-14)
    args = [rand(B, E, requires_grad=True), rand(B, F_, requires_grad=True), rand(B, H, requires_grad=True),
            rand(3 * H, E + F_, requires_grad=True), rand(3 * H, H, requires_grad=True),
            rand(3 * H, requires_grad=True), rand(3 * H, requires_grad=True)]
    assert torch.autograd.gradcheck(conditioned_gru_step, args)


def test_conditioned_gru_step_float32_and_shape_errors():
    cell = nn.GRUCell(7, 5)
    x, v, h = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 5)
    got = conditioned_gru_step(x, v, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    assert got.dtype == torch.float32 and torch.allclose(got, cell(torch.cat([x, v], 1), h), atol=1e-6)
    with pytest.raises(ValueError, match="W_ih"):
        conditioned_gru_step(x, v[:, :3], h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)


def test_spatial_attention_matches_a_loop_over_positions():
    B, L, C, H, A = 2, 5, 3, 4, 6
    h, grid = rand(B, H), rand(B, L, C)
    W_h, W_g, w = rand(A, H), rand(A, C), rand(A)
    context, weights = spatial_attention(h, grid, W_h, W_g, w)
    assert context.shape == (B, C) and weights.shape == (B, L)
    for b in range(B):
        scores = torch.stack([w @ torch.tanh(W_h @ h[b] + W_g @ grid[b, l]) for l in range(L)])
        alpha = scores.exp() / scores.exp().sum()
        assert torch.allclose(weights[b], alpha, atol=1e-14)
        assert torch.allclose(context[b], sum(alpha[l] * grid[b, l] for l in range(L)), atol=1e-14)
    args = [rand(B, H, requires_grad=True), rand(B, L, C, requires_grad=True), rand(A, H, requires_grad=True),
            rand(A, C, requires_grad=True), rand(A, requires_grad=True)]
    assert torch.autograd.gradcheck(lambda *a: spatial_attention(*a), args)


def test_spatial_attention_is_uniform_over_identical_regions():
    grid = rand(1, 1, 3).expand(2, 7, 3)
    context, weights = spatial_attention(rand(2, 4), grid, rand(5, 4), rand(5, 3), rand(5))
    assert torch.allclose(weights, torch.full((2, 7), 1 / 7, dtype=D64), atol=1e-14)
    assert torch.allclose(context, grid[:, 0], atol=1e-14)


def test_encoder_grid_shape_and_coordinate_channels():
    enc = SceneEncoder(channels=8)
    grid = enc(torch.rand(2, 3, 48, 48))
    assert grid.shape == (2, 36, 10)
    xy = grid[0, :, -2:]
    assert torch.allclose(xy[0], torch.tensor([-1.0, -1.0])) and torch.allclose(xy[-1], torch.tensor([1.0, 1.0]))
    assert torch.allclose(xy[1, 0], torch.tensor(-0.6)) and torch.allclose(xy[6, 1], torch.tensor(-0.6))


@pytest.mark.parametrize("make", [lambda V: ShowAndTell(V, channels=4, feature_size=6, emb_size=3, hidden_size=5),
                                  lambda V: ShowAttendTell(V, channels=4, emb_size=3, hidden_size=5, attention_size=4)])
def test_decoder_forward_equals_nn_grucell_steps(make):
    torch.manual_seed(0)
    V = 16
    model = make(V).double().eval()
    images, inputs = torch.rand(2, 3, 48, 48, dtype=D64), torch.randint(0, V, (4, 2))
    logits, weights = model(images, inputs)
    assert logits.shape == (4, 2, V)
    h, extra = model.start(images)
    for t in range(4):
        x = model.embedding(inputs[t])
        if model.attention:
            z, alpha = spatial_attention(h, extra, model.W_h, model.W_g, model.w)
            assert torch.allclose(weights[t], alpha)
            h = model.cell(torch.cat([x, z], 1), h)
            out = model.head(torch.cat([h, z], 1))
        else:
            h = model.cell(torch.cat([x, extra], 1), h)
            out = model.head(h)
        assert torch.allclose(logits[t], out, atol=1e-12)


def test_image_enters_only_where_asked():
    torch.manual_seed(0)
    images, inputs = torch.rand(2, 3, 48, 48), torch.randint(0, 16, (3, 2))
    blind = ShowAndTell(16, feed_image=False, init_from_image=False).eval()
    same = inputs[:, :1].expand(3, 2)
    logits, _ = blind(images, same)
    assert torch.allclose(logits[:, 0], logits[:, 1])
    for model in (ShowAndTell(16, feed_image=False), ShowAndTell(16, init_from_image=False)):
        logits, _ = model.eval()(images, same)
        assert not torch.allclose(logits[:, 0], logits[:, 1])


def test_stepper_agrees_with_teacher_forcing_and_drives_greedy_decoding():
    torch.manual_seed(0)
    data = make_captioning_data(3, seed=5)
    v = data.vocab
    model = ShowAttendTell(len(v), channels=8, hidden_size=16).eval()
    image = data.images[0]
    step_fn = CaptionStepper(model, image)
    prefix = data.inputs[:, 0].tolist()[:5]
    logits, weights = model(image[None], torch.tensor(prefix)[:, None])
    assert torch.allclose(step_fn(prefix), torch.log_softmax(logits[-1, 0], -1), atol=1e-6)
    assert torch.allclose(step_fn(prefix[:2]), torch.log_softmax(logits[1, 0], -1), atol=1e-6)  # from the cache
    ids = caption_image(model, image, v, "greedy", max_len=6)
    assert ids == greedy_decode(lambda p: torch.log_softmax(model(image[None], torch.tensor(p)[:, None])[0][-1, 0], -1),
                                v.bos_id, v.eos_id, 6)
    maps = attention_maps(model, image, ids, v)
    full, w = model(image[None], torch.tensor([v.bos_id] + ids[:-1])[:, None])
    assert maps.shape == (len(ids), 36) and torch.allclose(maps, w[:, 0], atol=1e-6)
    assert len(caption_image(model, image, v, "beam", beam_width=2, max_len=6)) <= 6


def test_training_lowers_the_loss_and_is_deterministic():
    data = make_captioning_data(64, seed=6)
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = ShowAndTell(len(data.vocab), channels=8, feature_size=16, hidden_size=32)
        runs.append(train_captioner(model, data, steps=25, batch_size=16, seed=2)["train_loss"])
    assert runs[0] == runs[1]
    assert sum(runs[0][-5:]) / 5 < 0.7 * sum(runs[0][:5]) / 5


def test_package_root_exports():
    for name in ("init_state_from_features", "conditioned_gru_step", "spatial_attention", "bleu", "corpus_bleu",
                 "modified_precision", "ShowAndTell", "ShowAttendTell", "make_captioning_data"):
        assert callable(getattr(rnncourse, name)), name
    assert rnncourse.bleu is bleu


def test_attention_on_objects_is_one_ninth_for_uniform_attention():
    data = make_captioning_data(4, seed=7)
    model = ShowAttendTell(len(data.vocab), channels=4, hidden_size=8).eval()
    with torch.no_grad():
        model.w.zero_()  # every score 0: uniform weights over the 36 regions
    captions = [data.references[0][1], "a red circle", data.references[2][0], data.references[3][0]]
    assert attention_on_objects(model, data, captions) == pytest.approx(1 / 9)


def test_mentioned_objects_follow_the_caption_order():
    a, b = SceneObject("red", "circle", 0, 0), SceneObject("red", "circle", 0, 2)
    scene = Scene(a, b)
    assert mentioned_objects("a red circle left of a red circle", scene) == (a, b)
    assert mentioned_objects("a red circle right of a red circle", scene) == (b, a)
    with pytest.raises(ValueError, match="not true"):
        mentioned_objects("a red circle above a red circle", scene)


def test_stepper_decodes_in_eval_mode_whatever_the_models_mode():
    torch.manual_seed(0)
    data = make_captioning_data(2, seed=8)
    model = ShowAndTell(len(data.vocab), channels=8, feature_size=8, hidden_size=8)
    model.train()
    running = [b.clone() for b in model.buffers()]
    in_train = CaptionStepper(model, data.images[0])([data.vocab.bos_id])
    assert model.training and all(torch.equal(a, b) for a, b in zip(running, model.buffers()))
    model.eval()
    assert torch.equal(in_train, CaptionStepper(model, data.images[0])([data.vocab.bos_id]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_models_and_equations_run_on_the_gpu():
    data = make_captioning_data(8, seed=9)
    torch.manual_seed(0)
    model = ShowAttendTell(len(data.vocab), channels=8, hidden_size=16).cuda()
    train_captioner(model, data, steps=2, batch_size=4)
    ids = caption_image(model, data.images[0], data.vocab, "beam", beam_width=2, max_len=5)
    assert attention_maps(model, data.images[0], ids, data.vocab).device.type == "cuda"
    args = [torch.randn(2, 3), torch.randn(2, 4, 5), torch.randn(6, 3), torch.randn(6, 5), torch.randn(6)]
    context, weights = spatial_attention(*(a.cuda() for a in args))
    ref_context, ref_weights = spatial_attention(*args)
    assert context.device.type == "cuda"
    assert torch.allclose(context.cpu(), ref_context, atol=1e-5) and torch.allclose(weights.cpu(), ref_weights, atol=1e-5)
