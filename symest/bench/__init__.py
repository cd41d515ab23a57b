"""MSE versus compute: ARC's noisy-weights protocol, run against sampling.

For a trained model, K noisy copies are made by adding iid N(0, sigma^2) to every weight (copy k
seeded by (seed, k), :mod:`symest.bench.noise`). Each copy's true accuracy p_k comes from the
exact method where it applies, else from sampling precise enough (standard error below a tenth
of the smallest RMS error reported; cached on disk, :mod:`symest.bench.cache`). Every estimator
then runs at every budget on every copy (sampling with its own seed per copy and budget), as pure
work items (:mod:`symest.bench.work`) on a local process pool, a Ray cluster or in-process
(:mod:`symest.bench.executors`), so every executor gives identical numbers. The result
(:mod:`symest.bench.result`) reports RMS error versus FLOPs per estimator, the analytic and the
measured sampling curves and the advantage ratio, as Markdown, JSON and a log-log plot.

    from symest.bench import run_bench
    res = run_bench(model, sigma=0.05, copies=256, budgets=[1e4, 1e5, 1e6, 1e7, 1e8])
    print(res.to_markdown()); res.plot("bench.png")
"""

from symest.bench.executors import EXECUTORS, make_executor
from symest.bench.noise import ModelSpec, noisy_copy, noisy_weights, weights_hash
from symest.bench.result import BenchResult
from symest.bench.run import DEFAULT_BUDGETS, BenchError, ZooBenchResult, run_bench, run_zoo_bench

__all__ = [
    "DEFAULT_BUDGETS",
    "EXECUTORS",
    "BenchError",
    "BenchResult",
    "ModelSpec",
    "ZooBenchResult",
    "make_executor",
    "noisy_copy",
    "noisy_weights",
    "run_bench",
    "run_zoo_bench",
    "weights_hash",
]
