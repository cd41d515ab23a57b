"""Sampling throughput: symest's JAX sampler against a plain PyTorch nn.RNN, same process.

    python scripts/bench_sampling.py [--model 2nd_argmax_16_10] [--samples 4194304] [--repeats 3]

Both sides do the same work per sample: draw a Gaussian sequence, run the RNN and readout, and
score the prediction against the 2nd-argmax target (PyTorch: ``argsort``, as a straightforward
implementation would). Reports samples/s, the ratio, and GFLOP/s under symest's cost model
(flopscope's conventions, :mod:`symest.flops`). Needs torch only for the comparison; without it
only symest's numbers are printed. Best of ``--repeats`` timings each (machines are noisy).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from symest import get_task, load, make_model
from symest.estimators.sampling import sample_scores
from symest.flops import per_sample_flops


def torch_rate(model, samples: int, chunk: int = 1 << 16) -> float:
    import torch

    d, n = model.hidden, model.seq_len
    rnn = torch.nn.RNN(1, d, nonlinearity="relu", bias=False, batch_first=True)
    lin = torch.nn.Linear(d, model.task.out_size(n), bias=False)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(model.W_hi, dtype=torch.float32))
        rnn.weight_hh_l0.copy_(torch.tensor(model.W_hh, dtype=torch.float32))
        lin.weight.copy_(torch.tensor(model.W_oh, dtype=torch.float32))
    g = torch.Generator().manual_seed(0)
    correct = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, samples, chunk):
            b = min(chunk, samples - start)
            x = torch.randn(b, n, generator=g)
            _, h = rnn(x[..., None])
            logits = lin(h[-1])
            target = x.argsort(dim=-1)[:, -2]
            correct += int((logits.argmax(-1) == target).sum())
    return samples / (time.perf_counter() - t0)


def symest_rate(model, samples: int) -> float:
    sample_scores(model, 1 << 16, seed=99)  # compile outside the timing
    t0 = time.perf_counter()
    sample_scores(model, samples, seed=0)
    return samples / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="2nd_argmax_16_10")
    ap.add_argument("--samples", type=int, default=1 << 22)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    try:
        model = load(a.model)
    except Exception:  # zoo not built yet: a random model of M_{16,10}'s shape
        rng = np.random.default_rng(0)
        model = make_model(get_task("2nd_argmax"), 10, {"rnn.weight_ih_l0": rng.standard_normal((16, 1)),
                                                         "rnn.weight_hh_l0": rng.standard_normal((16, 16)) / 4,
                                                         "linear.weight": rng.standard_normal((10, 16))},
                           name="random_2nd_argmax_16_10")
    fl = per_sample_flops(model)
    ours = max(symest_rate(model, a.samples) for _ in range(a.repeats))
    print(f"model {model.name}: {fl} FLOPs per sample (flopscope conventions)")
    print(f"symest (JAX): {ours:,.0f} samples/s = {ours * fl / 1e9:.2f} GFLOP/s")
    try:
        import torch
    except ImportError:
        print("torch not installed: no PyTorch comparison")
        return
    theirs = max(torch_rate(model, a.samples) for _ in range(a.repeats))
    print(f"PyTorch {torch.__version__} nn.RNN ({torch.get_num_threads()} threads): {theirs:,.0f} samples/s "
          f"= {theirs * fl / 1e9:.2f} GFLOP/s")
    print(f"ratio symest / PyTorch: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
