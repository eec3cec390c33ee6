"""Train the default character LSTM for a fixed wall-clock budget and report its validation loss.

    python benchmarks/lm.py                # 300 s, the default configuration
    python benchmarks/lm.py --seconds 60   # a quicker look

Prints the validation loss in nats/char, bits/char, the number of steps and
the seconds spent. Target on a 2-core CPU: validation loss <= 1.55 within 300 s.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys

import torch

from rnncourse.train import PRESETS, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="wall-clock training budget")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)

    config = copy.deepcopy(PRESETS[args.preset])
    config.time_budget_s = args.seconds
    config.max_steps = 10**9  # the budget, not a step count, ends the run
    config.eval_every = 0  # evaluate once, at the end
    config.device = args.device
    config.num_threads = args.threads
    model, _, history = train(config, progress=sys.stderr.isatty())
    val = history["best_val_loss"]
    device = next(model.parameters()).device
    print(f"device            {device} ({torch.get_num_threads()} threads)")
    print(f"validation loss   {val:.4f} nats/char")
    print(f"bits per char     {val / math.log(2):.4f}")
    print(f"perplexity        {math.exp(val):.3f}")
    print(f"steps             {history['steps']}")
    print(f"seconds           {history['seconds']:.1f} (budget {args.seconds:.0f})")
    print(f"target            <= 1.55 nats/char: {'met' if val <= 1.55 else 'not met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
