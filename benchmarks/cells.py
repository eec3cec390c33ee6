"""Time forward + backward of rnncourse's from-scratch LSTM/GRU against torch.nn.LSTM/GRU.

    python benchmarks/cells.py              # CPU, a few sizes, one thread
    python benchmarks/cells.py --threads 2  # CPU with two threads
    python benchmarks/cells.py --quick      # one small size
    python benchmarks/cells.py --device cuda

Prints milliseconds per forward+backward pass and the ratio ours / torch
(target on CPU: <= 2x); each figure is the best of several runs. Both sides run
the same shapes with the same weights and the same number of torch threads. The
default is one thread: at these sizes a step's matrices are small, and on a
machine whose cores are busy with other work, extra threads mostly wait for
each other, which makes the figures depend on the load more than on the code.
"""
from __future__ import annotations

import argparse
import time

import torch

from rnncourse.layers import GRU, LSTM


def time_it(fn, device: torch.device, repeats: int) -> float:
    """Best of ``repeats`` runs in milliseconds (the minimum is robust to other load on the machine)."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="one small size only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (both sides)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = [(50, 16, 64)] if args.quick else [(100, 32, 64), (100, 32, 128), (100, 32, 256)]
    print(f"device {device}, {torch.get_num_threads()} threads; T, B, D=H; ms per forward+backward")
    print(f"{'cell':<5} {'T':>4} {'B':>4} {'H':>4} {'torch':>9} {'ours':>9} {'ratio':>6}")
    ratios = []
    for name, ours_cls, torch_cls in [("LSTM", LSTM, torch.nn.LSTM), ("GRU", GRU, torch.nn.GRU)]:
        for T, B, H in sizes:
            ref = torch_cls(H, H).to(device)
            ours = ours_cls.from_torch(ref)
            x = torch.randn(T, B, H, device=device)

            def step(module):
                return lambda: module(x)[0].sum().backward()

            t_ref = time_it(step(ref), device, args.repeats)
            t_ours = time_it(step(ours), device, args.repeats)
            ratios.append(t_ours / t_ref)
            print(f"{name:<5} {T:>4} {B:>4} {H:>4} {t_ref:>9.2f} {t_ours:>9.2f} {t_ours / t_ref:>5.2f}x")
    target = " (target on CPU: <= 2x)" if device.type == "cpu" else ""
    print(f"worst ratio {max(ratios):.2f}x{target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
