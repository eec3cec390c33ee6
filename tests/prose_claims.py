"""Numbers and outcomes that the chapters' prose quotes, checked against what the cells computed.

``PROBES[aid]`` names expressions evaluated in the executed solution notebook
(see ``execute_all(..., probe=...)``); ``CLAIMS[aid](values, prose)`` asserts that
every number or outcome the prose states is what the cells produced, and that the
prose still states it. Change a demo and the claim about it fails here.
"""
from __future__ import annotations

import math


def says(prose: str, *phrases: str) -> None:
    """Each phrase occurs in the prose (line breaks and runs of spaces count as one space)."""
    flat = " ".join(prose.split())
    for phrase in phrases:
        assert " ".join(phrase.split()) in flat, f"the prose no longer says {phrase!r}"


def about(value: float, lo: float, hi: float, what: str) -> None:
    assert lo <= value <= hi, f"{what} is {value!r}, the prose quotes a value in [{lo}, {hi}]"


# ----------------------------------------------------------------------------- 01_rnn, 02_bptt

def ch01(v: dict, prose: str) -> None:
    assert v["concat_error"] < 1e-12, "the concatenated form must compute the same states"
    says(prose, "It is the same function")
    # changing x_1: small recurrent weights forget it quickly, larger ones carry it much longer
    spread = v["spread"]
    assert spread["0.5"][19] < 1e-7 * spread["0.5"][0], "with W_hh × 0.5 the change should be gone by step 20"
    assert spread["1.5"][-1] > 1e-2, "with W_hh × 1.5 the change should still be visible at step 40"
    says(prose, "with small recurrent weights the state forgets\nquickly, with larger ones the difference lasts much longer")
    # "hello": the RNN's loss goes to 0, the model without recurrence stops at the bigram bound (1/2) log 2
    rnn_loss, bigram_loss = v["hello_losses"]
    about(rnn_loss, 0.0, 1e-3, "the RNN's final loss on 'hello'")
    about(bigram_loss, 0.5 * math.log(2), 0.5 * math.log(2) + 0.01, "the final loss without recurrence")
    says(prose, "The RNN can bring the loss to 0", "\\approx 0.347")
    # after "hel" it predicts "l", after "hell" it predicts "o", and greedy generation from "h" spells "hello"
    assert v["hello_argmax"] == ["e", "l", "l", "o"], v["hello_argmax"]
    assert v["hello_generated"] == "hello", v["hello_generated"]
    says(prose, "the model predicts \"l\"\nafter the first and \"o\" after the second")


def ch02(v: dict, prose: str) -> None:
    # the delay task: k >= 4 solves it and stays solved; k <= 3 first rises, then collapses to chance
    # while ||W_ih|| shrinks
    for k in ("4", "8"):
        acc, _ = v["delay"][k]
        about(acc, 0.95, 1.0, f"final accuracy with k = {k}")
    for k in ("2", "3"):
        acc, best = v["delay"][k]
        about(acc, 0.4, 0.6, f"final accuracy with k = {k} (chance)")
        assert best > acc + 0.1, f"with k = {k} the accuracy should first rise, then collapse"
        w_max, w_final = v["w_norm"][k]
        assert w_final < 0.8 * w_max, f"with k = {k} ||W_ih|| should shrink"
    # 2.3 taken apart by step: with W_hh × 0.5 the term at lag 30 is nothing, with × 2 it decays far more slowly
    c = v["contribution"]
    assert c["0.5"][1] / c["0.5"][0] < 1e-15, c
    assert c["2.0"][1] / c["2.0"][0] > 1e-5, c
    says(prose, "with small recurrent weights, steps far in the past contribute\nalmost nothing")
    # 2.8: truncation in numpy is h.detach() in torch; no gradient reaches inputs before the last chunk
    assert v["detach_gap"] < 1e-12
    reach, T = v["reach"], len(v["reach"]["full BPTT"])
    for k in (16, 6):
        norms = reach[f"truncated, k = {k}"]
        assert all(n == 0 for n in norms[:T - k]) and all(n > 0 for n in norms[T - k:]), (k, norms)
        assert norms[T - k:] == reach["full BPTT"][T - k:], "inside the last chunk the gradient is the full one"
    says(prose, "the gradient reaching each input $x_t$ is zero before\nthe last chunk")
    # the relative error of the truncated gradient falls with k, and is larger for larger recurrent weights
    err = v["truncation_error"]
    for scale, e in err.items():
        assert all(b < a for a, b in zip(e, e[1:])), (scale, e)
    assert all(err["0.5"][j] < err["1.0"][j] < err["1.5"][j] for j in range(len(err["0.5"]) - 1)), err
    says(prose, "The error\nfalls with $k$, fast when the recurrent weights are small")
    says(prose, "With $k \\ge 4$ the task is solved", "Then accuracy collapses to chance",
         "panel shows $\\lVert W_{ih} \\rVert$ shrinking")


# ----------------------------------------------------------------------------- 03_clipping

def ch03(v: dict, prose: str) -> None:
    sweep = {float(k): vals for k, vals in v["sweep"].items()}
    # rho = 0.5: a straight fall to about 1e-18
    about(sweep[0.5][59], 1e-19, 1e-17, "rho=0.5, lag 60")
    # rho = 0.9: first rises to about 1.5 at lag 2, then decays to about 5e-4; spectral norm 1.49
    r9 = sweep[0.9]
    assert max(range(60), key=lambda k: r9[k]) == 1, "rho=0.9 peaks at lag 2"
    about(r9[1], 1.4, 1.6, "rho=0.9, lag 2")
    about(r9[59], 4e-4, 7e-4, "rho=0.9, lag 60")
    about(v["spectral_norm"]["0.9"], 1.485, 1.495, "the spectral norm of 0.9 * base")
    # rho = 1: about 0.12 at lag 60
    about(sweep[1.0][59], 0.11, 0.13, "rho=1, lag 60")
    # rho = 1.5: between about 0.5 and 3 for forty lags, then about 18 at lag 60
    about(min(sweep[1.5][:40]), 0.45, 0.6, "rho=1.5, smallest norm over lags 1..40")
    about(max(sweep[1.5][:40]), 2.0, 3.0, "rho=1.5, largest norm over lags 1..40")
    about(sweep[1.5][59], 15, 21, "rho=1.5, lag 60")
    # rho = 3: grows almost all the way to about 1e9, a fifth of the entries saturated
    r3 = sweep[3.0]
    about(r3[59], 3e8, 3e9, "rho=3, lag 60")
    assert sum(b < a for a, b in zip(r3, r3[1:])) <= 6, "rho=3 should grow at almost every lag"
    about(v["saturated"]["3.0"], 0.15, 0.25, "fraction of saturated entries at rho=3")
    says(prose, "to about 1.5 at lag 2", "$5 \\cdot 10^{-4}$ at lag 60", "spectral norm is 1.49",
         "to about 0.12 at lag 60", "between about 0.5 and 3", "grows to about 18", "$10^{9}$ at lag 60",
         "A fifth of", "$10^{-18}$ at lag 60")
    # the explosion demo: no clipping dies with NaN after about 140 steps; the clipped runs stay
    # finite but end near 40, the loss of answering 0, with gradient norms in the millions
    about(v["first_nan"], 120, 160, "first NaN step without clipping")
    about(v["target_variance"], 35, 45, "variance of the target")
    for name in ("clip by norm (1.0)", "clip by value (0.1)"):
        losses, max_norm = v["final_loss"][name], v["max_norm"][name]
        assert not v["nan_seen"][name], f"{name} should never see NaN"
        about(losses, 0.9 * v["target_variance"], 1.1 * v["target_variance"], f"{name}: final loss")
        about(max_norm, 1e6, 1e7, f"{name}: largest gradient norm")
    assert v["nan_seen"]["no clipping"]
    says(prose, "after about 140", "a loss of about 40", "in the millions")
    # the IRNN keeps the Jacobian product at exactly 1; the orthogonal tanh RNN does not
    assert all(x == 1.0 for x in v["lag_norms"]["ReLU, W = I (IRNN)"])
    assert v["lag_norms"]["tanh, orthogonal W"][59] < 0.1
    says(prose, "stays at exactly 1")
    # singular values: spread on both sides of 1 for the Gaussian matrix, all 1 for the orthogonal one
    gauss = v["singular_values"]["Gaussian, spectral radius 1"]
    assert min(gauss) < 0.5 and max(gauss) > 1.5, gauss
    assert all(abs(s - 1) < 1e-12 for s in v["singular_values"]["orthogonal"])
    says(prose, "singular values spread on both sides of 1", "an orthogonal one has all of them\nat 1")


# ----------------------------------------------------------------------------- 04_lstm

def ch04(v: dict, prose: str) -> None:
    # 4.6: the plain network loses about fifteen orders of magnitude over 50 layers; the skip
    # paths stay within a couple of orders; the residual one slowly grows
    plain, highway, residual = (v["depth_norms"][k] for k in ("plain", "highway", "residual"))
    about(math.log10(plain[0] / plain[-1]), 14.5, 15.5, "orders of magnitude lost by the plain network")
    for name, norms in (("highway", highway), ("residual", residual)):
        about(abs(math.log10(norms[-1] / norms[0])), 0.0, 2.5, f"orders of magnitude moved by {name}")
    assert residual[-1] > residual[0], "the residual network's gradient grows with depth"
    says(prose, "about fifteen orders of magnitude", "slowly *grows*")
    # 4.7: the LSTM with forget bias 4 learns, the tanh RNN and the default LSTM stay near chance
    acc = v["final_accuracy"]
    assert min(acc["LSTM, forget bias 4"]) > 0.9, acc
    assert max(acc["tanh RNN"]) < 0.4, acc
    assert max(acc["LSTM, default init (b_f ≈ 0)"]) < 0.4, acc
    says(prose, "the tanh RNN stays at chance", "**the same LSTM with the default initialisation also fails**")
    # the packed-sequence demo: packing gives the unpadded state, padding does not
    assert v["packed"] == [True, False]
    says(prose, "not after the padding")
    # 4.2, a vanilla RNN from an LSTM: f = 0, i = o = 1 gives tanh(tanh(...)) up to about 1e-13, and the
    # second tanh makes it visibly different from the tanh RNN itself
    about(math.log10(v["vanilla_gap"]), -13.5, -12.5, "log10 of the gap between the LSTM and tanh(tanh(·))")
    about(v["plain_gap"], 0.05, 1.0, "the gap between the LSTM and the tanh RNN")
    assert 1 / (1 + math.exp(30)) < 1e-13
    says(prose, "leave a gap of about $10^{-13}$", "a visible difference from the tanh RNN itself",
         "$\\sigma(\\pm 30)$ is within $10^{-13}$ of 1 or 0")
    # 4.2, the hand-wired cell: the weights the prose writes as formulas, and what the cell did with them
    hw = v["hand_wired"]
    assert hw["weights"] == [[0, 16, 0], [0, -16, 0], [1, 0, 0], [0, 0, 16]] and hw["bias"] == [-8, 8, 0, -8], hw
    assert hw["recurrent"] == 0.0
    says(prose, "$i_t = \\sigma(16\\,\\text{write}_t - 8)$", "$f_t = \\sigma(8 - 16\\,\\text{write}_t)$",
         "$g_t = \\tanh(v_t)$", "$o_t = \\sigma(16\\,\\text{read}_t - 8)$", "All recurrent weights are zero")
    for f in hw["f_quiet"]:
        about(f, 0.99965, 0.99975, "the forget gate between writes, σ(8)")
    about(hw["i_quiet"], 0.00025, 0.00035, "the input gate between writes, σ(-8)")
    assert hw["noisy_between"] == 29, hw["noisy_between"]
    about(abs(hw["noise_trace"]), 0.0, 0.01, "what the noisy values left in the memory")
    for gap in hw["held"]:
        about(abs(gap), 0.0, 0.02, "the memory just before the next write minus the value stored")
    about(hw["silent"], 0.0, 1e-3, "the largest |h_t| away from the reads")
    for o in hw["o_reads"]:
        about(o, 0.9996, 0.9998, "h_t / tanh(c_t) = o_t at a read")
    says(prose, "$\\sigma(8) \\approx 0.9997$", "the 29 noisy values", "left almost no trace",
         "$\\sigma(-8) \\approx 0.0003$", "the output is $\\tanh$ of the memory", "reveal it only when asked")


# ----------------------------------------------------------------------------- 05_gru

def ch05(v: dict, prose: str) -> None:
    assert v["gru_jacobian_error"] < 1e-12, "the three-term GRU Jacobian must match autograd"
    assert v["two_term_error"] > 1e-3, "the lecture's two-term form drops the gate's derivative"
    says(prose, "Autograd confirms the three-term formula")
    # a vanilla RNN from a GRU (Exercise 5.2): r = 1, z = 0 is exactly the tanh RNN; σ(±30) is within 1e-13
    # of 1 and 0, and the GRU built by gru_from_rnn follows torch.nn.RNN to about that
    assert v["gru_vanilla_gap"] < 1e-12, v["gru_vanilla_gap"]
    about(v["gate_gap"], 9.35e-14, 9.45e-14, "1 - σ(30)")
    about(v["largest_input_term"], 10.0, 99.0, "the largest |W_ih x_t| of the demo (tens)")
    says(prose, "the GRU is *exactly* the tanh RNN", "reach these gate values to within $10^{-13}$",
         "follows `torch.nn.RNN` step for step even where the input alone contributes tens",
         "$\\sigma(30) = 1 - 9.4 \\cdot 10^{-14}$")
    # 5.3: a GRU has three quarters of an LSTM's parameters
    counts = v["param_counts"]
    assert 4 * counts["gru"] == 3 * counts["lstm"], counts
    says(prose, "A GRU has three quarters of an LSTM's parameters")


# ----------------------------------------------------------------------------- 06_language_model

def ch06(v: dict, prose: str) -> None:
    # the baselines: unigram 3.35 nats = 4.83 bits per character, uniform log2(68) = 6.09 bits
    about(v["unigram_nll"], 3.345, 3.355, "the unigram model's NLL (nats/char)")
    about(v["unigram_nll"] / math.log(2), 4.825, 4.835, "the unigram model's bits per character")
    about(math.log2(68), 6.085, 6.095, "the uniform model's bits per character")
    says(prose, "3.35 nats/char, that is 4.83\nbits/char", "6.09 bits/char", "below\n4.83 bits/char (3.35 nats)")
    # a few seconds of training take the loss well below the unigram model
    assert v["small_best"] < v["unigram_nll"] - 0.5, v["small_best"]
    says(prose, "well below the unigram\nmodel's 3.35 nats/char")
    # the shipped model stops: every sample shown ends at EOS
    assert v["ended_at_eos"] and all(v["ended_at_eos"]), v["ended_at_eos"]
    says(prose, "a sample\nfrom it is one speech, ending where the model emits EOS")
    # 6.7: unit 504 counts the position in the line (+0.82); 5 of 512 units exceed 0.5, the median is 0.10
    assert v["line_unit"] == 504, f"the line-position unit is {v['line_unit']}"
    about(v["line_corr"], 0.815, 0.825, "unit 504's correlation with the position in the line")
    assert (v["strong"], v["n_units"]) == (5, 512), (v["strong"], v["n_units"])
    about(v["median_corr"], 0.095, 0.105, "the median |correlation| over all units")
    says(prose, "unit 504's $\\tanh(c)$ (its correlation with the\nposition in the line is +0.82)",
         "Such units are the exception", "Only 5 of the 512 cells", "and the median is 0.10")
    # the name line: the passage's winner 472 (-0.95) falls to -0.54 over 48 speeches, three per name-line
    # length from 4 to 19; unit 197 wins there with -0.94, and reaches only -0.76 with the first 11 characters
    assert v["n_speeches"] == 48 and v["name_lengths"] == [n for n in range(4, 20) for _ in range(3)], v["name_lengths"]
    assert (v["one_unit"], v["name_unit"], v["k"]) == (472, 197, 11), (v["one_unit"], v["name_unit"], v["k"])
    about(v["one_corr"], -0.955, -0.945, "unit 472's correlation with the name line of the passage")
    about(v["one_on_many"], -0.545, -0.535, "unit 472's correlation with the name line over the 48 speeches")
    about(v["name_corr"], -0.945, -0.935, "unit 197's correlation with the name line over the 48 speeches")
    about(v["control"], -0.765, -0.755, "unit 197's correlation with the first 11 characters")
    assert abs(v["control"]) < abs(v["name_corr"]) - 0.1, "the name line must beat the control clearly"
    says(prose, "then 48 speeches from across the corpus, three for\neach length of the name line from 4 characters (`All:`) to 19",
         "The unit that wins on the single passage, 472 (correlation −0.95 there), falls\nto −0.54 over the 48 speeches",
         "unit 197 wins with −0.94", "the first 11 characters whatever the name, reaches only\n−0.76")
    # the quote experiment finds a quote-detecting unit
    about(abs(v["quote_corr"]), 0.9, 1.0, "the best unit's correlation with 'inside quotes'")
    says(prose, "correlation above 0.9 in absolute value")


# ----------------------------------------------------------------------------- 07_sampling

def ch07(v: dict, prose: str) -> None:
    d = v["degeneration"]
    corpus = d["validation speeches"]
    about(d["greedy"], 0.5, 0.7, "repetition rate of greedy decoding (about 0.6)")
    about(d["beam search, W = 4"], 0.35, 0.55, "repetition rate of beam search (about 0.45)")
    about(corpus, 0.08, 0.1, "repetition rate of the validation speeches (about 0.09)")
    for name in ("sampling, T = 1.0", "top-p, p = 0.95"):  # less than the corpus
        about(d[name], 0.0, corpus, f"repetition rate of {name}")
    for name in ("sampling, T = 0.5", "top-k, k = 5"):  # closest to the corpus, above T = 1
        assert d["sampling, T = 1.0"] < d[name] < 0.2, (name, d)
        assert abs(d[name] - corpus) < abs(d["sampling, T = 1.0"] - corpus), (name, d)
    says(prose, "Greedy decoding repeats about 0.6 of its 4-grams and beam search about 0.45",
         "The validation speeches repeat about 0.09", "repeat themselves *less* than that", "come closest")
    assert "the state of the court" in v["examples"]["greedy"], "the phrase quoted from greedy's loop"
    assert v["examples"]["beam search, W = 4"].count("the world") >= 2, "the phrase quoted from beam's loop"
    # with EOS allowed, beam search stops after a few characters (the length bias)
    assert len(v["beam_text"]) < 20, v["beam_text"]
    says(prose, "ends its speech after a few characters")


PROBES: dict[str, dict[str, str]] = {
    "01_rnn": {"concat_error": "concat_error", "spread": "{str(s): d for s, d in spread.items()}",
               "hello_losses": "[losses[-1], bigram_losses[-1]]",
               "hello_argmax": "[vocab[int(j)] for j in probs.argmax(axis=1)]", "hello_generated": "generated"},
    "02_bptt": {
        "delay": "{str(k): [float(a[-200:].mean()), float(np.convolve(a, np.ones(100) / 100, mode='valid').max())]"
                 " for k, (a, w) in delay_runs.items()}",
        "w_norm": "{str(k): [float(w.max()), float(w[-1])] for k, (a, w) in delay_runs.items()}",
        "contribution": "{str(s): [float(c[0]), float(c[-1])] for s, c in contribution.items()}",
        "reach": "reach",
        "detach_gap": "detach_gap",
        "truncation_error": "{str(s): e for s, e in truncation_error.items()}",
    },
    "03_clipping": {
        "sweep": "{str(r): n for r, n in sweep.items()}",
        "spectral_norm": "{str(r): s for r, s in spectral_norm.items()}",
        "saturated": "{str(r): s for r, s in saturated.items()}",
        "first_nan": "first_nan",
        "target_variance": "target_variance",
        "final_loss": "{k: float(l[-1]) for k, (l, n) in runs.items()}",
        "max_norm": "{k: float(np.nanmax(n)) for k, (l, n) in runs.items()}",
        "nan_seen": "{k: bool(np.isnan(l).any()) for k, (l, n) in runs.items()}",
        "lag_norms": "lag_norms",
        "singular_values": "singular_values",
    },
    "05_gru": {
        "gru_jacobian_error": "gru_jacobian_error",
        "two_term_error": "two_term_error",
        "gru_vanilla_gap": "gru_vanilla_gap",
        "gate_gap": "gate_gap",
        "largest_input_term": "largest_input_term",
        "param_counts": "param_counts",
    },
    "06_language_model": {
        "unigram_nll": "unigram_nll",
        "small_best": "history['best_val_loss']",
        "ended_at_eos": "ended_at_eos",
        "line_unit": "unit",
        "line_corr": "line_corr",
        "strong": "strong",
        "n_units": "acts.shape[1]",
        "median_corr": "median_corr",
        "one_unit": "one_unit",
        "one_corr": "one_corr",
        "n_speeches": "len(chosen)",
        "name_lengths": "[s.index(chr(10)) for s in chosen]",
        "name_unit": "name_unit",
        "name_corr": "name_corr",
        "one_on_many": "float(many_corr[one_unit])",
        "k": "k",
        "control": "control_corr",
        "quote_corr": "quote_corr",
    },
    "07_sampling": {
        "degeneration": "degeneration",
        "beam_text": "side_by_side['beam search, W = 4']",
        "examples": "examples",
    },
    "04_lstm": {
        "depth_norms": "depth_norms",
        "final_accuracy": "final_accuracy",
        "packed": "[bool(torch.allclose(h_packed[0, 1], h_short[0, 0])), "
                  "bool(torch.allclose(h_padded[0, 1], h_short[0, 0]))]",
        "vanilla_gap": "vanilla_gap",
        "plain_gap": "plain_gap",
        "hand_wired": "{'weights': W_ih_hand.tolist(), 'bias': b_hand.tolist(),"
                      " 'recurrent': float(W_hh_hand.abs().max()),"
                      " 'f_quiet': [float(f_gate[write == 0].min()), float(f_gate[write == 0].max())],"
                      " 'i_quiet': float(i_gate[write == 0].max()), 'noisy_between': noisy_between,"
                      " 'noise_trace': float(noise_trace),"
                      " 'held': [float(cs[writes[1] - 1] - stored[0]), float(cs[-1] - stored[1])],"
                      " 'silent': max(abs(hs_hand[t]) for t in range(len(cs)) if t not in reads),"
                      " 'o_reads': [float(hs_hand[t] / np.tanh(cs[t])) for t in reads]}",
    },
}

CLAIMS = {
    "01_rnn": ch01,
    "02_bptt": ch02,
    "03_clipping": ch03,
    "04_lstm": ch04,
    "05_gru": ch05,
    "06_language_model": ch06,
    "07_sampling": ch07,
}
