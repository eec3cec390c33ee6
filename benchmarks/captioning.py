"""Time the computations behind chapter 09's demos (target: <= 3 minutes on 2 CPU cores, one thread here).

    python benchmarks/captioning.py            # the chapter's settings
    python benchmarks/captioning.py --quick    # 100 training steps per model

Prints the seconds spent generating the data, training each model, decoding the
200 held-out scenes greedily and with a beam of 3, and measuring attention, the
total, and the accuracy and BLEU-4 figures that the chapter reports.
"""
from __future__ import annotations

import argparse
import time

import torch

from rnncourse.captioning import ShowAndTell, ShowAttendTell, attention_on_objects, evaluate_captioner, train_captioner
from rnncourse.scenes import make_captioning_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 training steps per model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = 100 if args.quick else 600
    start = time.perf_counter()
    t = time.perf_counter()
    train_data, test_data = make_captioning_data(4000, seed=1), make_captioning_data(200, seed=2)
    print(f"data: {time.perf_counter() - t:.1f} s")
    for name, make in (("show and tell", ShowAndTell), ("show, attend and tell", ShowAttendTell)):
        torch.manual_seed(0)
        model = make(len(train_data.vocab))
        history = train_captioner(model, train_data, steps=steps, batch_size=64, lr=5e-3, seed=0)
        print(f"{name}: training {history['seconds']:.1f} s ({steps} steps)")
        for method in ("greedy", "beam"):
            t = time.perf_counter()
            r = evaluate_captioner(model, test_data, method=method, beam_width=3)
            print(f"{name}, {method}: {time.perf_counter() - t:.1f} s, {100 * r['accuracy']:.1f} % true, "
                  f"BLEU-4 {100 * r['bleu']:.1f}")
        if model.attention:
            t = time.perf_counter()
            mass = attention_on_objects(model, test_data, r["captions"])
            print(f"{name}: attention on the named object {mass:.2f} ({time.perf_counter() - t:.1f} s)")
    print(f"total: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
