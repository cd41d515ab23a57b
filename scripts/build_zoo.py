"""Train symest's bundled AlgZoo zoo into models/ (resumable).

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
        taskset -c 1 python scripts/build_zoo.py [--only NAME ...] [--render-only] [--reevaluate]

For every planned model: train each seed with ``symest.train.train`` (AlgZoo's recipe with
fewer sequences, see PLAN), pick the best seed on 2^20 fresh validation inputs (accuracy, or
RMSE for median), measure the chosen model on EVAL_SAMPLES fresh inputs from EVAL_SEED (with
``symest.estimators.sampling.sample_estimate`` when it is available, else the JAX evaluator in
``symest.train``), write ``models/<name>.safetensors`` and add the entry to
``models/manifest.json``; the README is re-rendered after every model. Models already in the
manifest (with their file present) are skipped, so an interrupted build resumes where it
stopped. Writes are atomic (temporary file + rename).

The headline models (2nd_argmax_2_2, _4_3, _16_10) are trained first and checked against their
required accuracies; the build stops with status 1 if one falls short.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from symest.checkpoints import write_model  # noqa: E402
from symest.model import Model  # noqa: E402
from symest.tasks import get_task  # noqa: E402
from symest.train import RECIPE, evaluate, train  # noqa: E402

MODELS = ROOT / "models"
MANIFEST = MODELS / "manifest.json"
FORMAT = "symest-zoo/1"
EVAL_SEED = 12345
EVAL_SAMPLES = 2**22
VALID_SEED = 999
VALID_SAMPLES = 2**20

# ARC's published figures (best of 5 seeds, 2^30 sequences): % accuracy, RMSE for median.
ARC_2ND_ARGMAX = {  # d -> values for n = 2, 3, 4, 5, 6, 8, 10
    32: [100.0, 100.0, 99.9, 99.7, 99.4, 99.3, 99.4],
    16: [100.0, 100.0, 99.8, 99.2, 98.5, 97.6, 94.8],
    8: [100.0, 99.9, 98.7, 88.2, 78.9, 46.6, 42.7],
    6: [100.0, 99.9, 86.5, 70.3, 48.4, 40.5, 37.5],
    5: [100.0, 99.9, 74.6, 54.2, 45.0, 38.4, 34.7],
    4: [100.0, 98.5, 60.2, 42.8, 39.4, 34.6, 31.8],
    3: [100.0, 90.8, 43.3, 37.5, 34.1, 28.5, 23.9],
    2: [100.0, 41.0, 32.8, 30.6, 26.9, 21.4, 20.2],
}
ARC_ARGMEDIAN = {32: [100.0, 99.6, 97.8, 74.8], 16: [100.0, 98.3, 71.4, 46.0], 8: [99.9, 69.9, 49.3, 33.6],
                 4: [98.5, 39.4, 27.5, 19.1], 2: [41.0, 26.4, 16.4, 10.6]}  # n = 3, 5, 7, 11
ARC_MEDIAN = {32: [0, 0, 0, 0], 16: [0, 0, 0, 0.041], 8: [0, 0, 0.039, 0.083], 4: [0, 0.132, 0.207, 0.127],
              2: [0, 0.326, 0.285, 0.189]}  # RMSE, n = 2, 3, 5, 10
ARC_LONGEST_CYCLE = {8: [100, 100, 99.7, 85.4], 6: [100, 100, 94.7, 84.1], 4: [100, 100, 81.0, 72.2],
                     3: [100, 90.2, 65.1, 63.1], 2: [100, 72.3, 63.1, 52.3]}  # n = 3, 4, 5, 6


def arc_figure(task: str, d: int, n: int) -> float | None:
    """ARC's figure as a fraction (RMSE for median), or None if ARC lists none."""
    tables = {"2nd_argmax": (ARC_2ND_ARGMAX, [2, 3, 4, 5, 6, 8, 10], 100),
              "argmedian": (ARC_ARGMEDIAN, [3, 5, 7, 11], 100),
              "median": (ARC_MEDIAN, [2, 3, 5, 10], 1),
              "longest_cycle": (ARC_LONGEST_CYCLE, [3, 4, 5, 6], 100)}
    table, lengths, scale = tables[task]
    if d not in table or n not in lengths:
        return None
    return table[d][lengths.index(n)] / scale


# Headline models and the accuracy each must reach.
REQUIRED = {"2nd_argmax_2_2": 0.9999, "2nd_argmax_4_3": 0.975, "2nd_argmax_16_10": 0.92}


def step_cost_us(task: str, d: int, n: int) -> float:
    """Rough wall-clock microseconds per training step on one busy core (for budgeting only)."""
    if task == "longest_cycle":
        return 60.0 * n * d * d / 4 + 800
    return n * (30.0 + 15.0 * d)


def plan() -> list[dict]:
    """The zoo, in training order: task, sizes, sequences per seed, seeds.

    ``seeds`` are always tried; ``extra_seeds`` only while the best validation figure so far is
    short of the target (:func:`target_met`): a headline model's requirement, else ARC's figure
    less 2 points (RMSE + 0.02 for median), so that like ARC we use up to 5 seeds where needed.
    Training sequences: headline models 2^26 (M_{2,2}, M_{4,3}) and 2^29 (M_{16,10}); the rest
    2^23 - 2^25 by cost (see :func:`step_cost_us`), 2^24 for d >= 16 and n >= 5;
    ``--budget-minutes`` may cut later jobs (fewer seeds first, then fewer sequences), and the
    manifest records what was used.
    """
    jobs: list[dict] = []

    def add(task: str, d: int, n: int, sequences: int, seeds: tuple[int, ...] = (0, 1),
            extra: tuple[int, ...] = (2, 3, 4)) -> None:
        jobs.append({"task": task, "hidden": d, "seq_len": n, "sequences": sequences, "seeds": list(seeds),
                     "extra_seeds": list(extra)})

    def by_cost(task: str, d: int, n: int) -> int:
        if d >= 16 and n >= 5:  # the wide models learn slowly and are still cheap per step
            return 2**24
        c = step_cost_us(task, d, n)
        return 2**25 if c <= 200 else 2**24 if c <= 1000 else 2**23

    # headline models first
    add("2nd_argmax", 2, 2, 2**26, (0, 1), (2, 3))
    # M_{4,3}'s accuracy is set by the basin a seed falls into (seeds 0-16 at 2^26 sequences end
    # between 52% and 97.9%; longer training moves a seed by < 1 point), so we try seeds in order
    # until one clears the requirement with margin
    add("2nd_argmax", 4, 3, 2**26, (0, 1), tuple(range(2, 17)))
    # M_{16,10}: seed 0 led seeds 0-3 at 2^24 sequences (70% vs 61-63%) and reached 87% at 2^26;
    # ARC's 94.8% took 2^30, so it gets 2^29 here
    add("2nd_argmax", 16, 10, 2**29, (0,), (1,))
    grid = [(d, n) for d in (2, 3, 4, 5, 6, 8, 16, 32) for n in (2, 3, 4, 5, 6, 8, 10)
            if (d, n) not in ((2, 2), (4, 3), (16, 10))]
    # cheapest first, so that a short budget still covers most of the grid
    for d, n in sorted(grid, key=lambda dn: (step_cost_us("2nd_argmax", *dn), dn)):
        add("2nd_argmax", d, n, by_cost("2nd_argmax", d, n))
    for d, n in ((2, 3), (4, 3), (8, 3), (4, 5), (8, 5), (16, 5)):
        add("argmedian", d, n, by_cost("argmedian", d, n))
    for d, n in ((2, 2), (2, 3), (4, 3), (4, 5), (8, 5), (8, 10)):
        add("median", d, n, by_cost("median", d, n))
    for h, n in ((2, 3), (2, 4), (3, 4), (4, 4), (4, 5), (6, 5)):
        add("longest_cycle", h, n, 2**23)
    return jobs


def fit_budget(job: dict, remaining_jobs: list[dict], seconds_left: float, calibration: float) -> dict:
    """Shrink ``job`` (not a headline one) if the remaining plan would overrun the budget."""
    def cost(j: dict) -> float:
        return (j["sequences"] // 1024) * len(j["seeds"]) * step_cost_us(j["task"], j["hidden"], j["seq_len"]) * 1e-6

    projected = calibration * sum(cost(j) for j in remaining_jobs) + 5.0 * len(remaining_jobs)  # + compile/eval
    if name_of(job) in REQUIRED or projected <= seconds_left:
        return job
    scale = max(seconds_left, 0.0) / projected
    job = dict(job, extra_seeds=[])
    if scale < 0.75 and len(job["seeds"]) > 1:
        job["seeds"], scale = job["seeds"][:1], scale * len(job["seeds"])
    while scale < 0.75 and job["sequences"] > 2**21:
        job["sequences"] //= 2
        scale *= 2
    return job


def target_met(name: str, metric: str, value: float) -> bool:
    """Whether a validation figure is good enough to stop trying extra seeds."""
    need = REQUIRED.get(name)
    if need is not None:
        return value >= need + min(0.002, 0.1 * (1 - need))  # clear the requirement with margin
    task, d, n = name.rsplit("_", 2)
    arc = arc_figure(task, int(d), int(n))
    if arc is None:
        return True
    return value <= arc + 0.02 if metric == "rmse" else value >= arc - 0.02


def name_of(job: dict) -> str:
    return f"{job['task']}_{job['hidden']}_{job['seq_len']}"


# ----------------------------------------------------------------------------------- manifest


def load_manifest() -> dict:
    if MANIFEST.is_file():
        data = json.loads(MANIFEST.read_text())
        if data.get("format") != FORMAT:
            raise SystemExit(f"{MANIFEST}: unknown format {data.get('format')!r}")
        return data
    return {"format": FORMAT, "models": []}


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes files private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_manifest(manifest: dict) -> None:
    order = {name_of(j): i for i, j in enumerate(plan())}
    manifest["models"].sort(key=lambda e: order.get(e["name"], len(order)))
    _atomic_write_text(MANIFEST, json.dumps(manifest, indent=1) + "\n")


def final_measure(model: Model) -> tuple[float, float, str]:
    """(value, stderr, method) on EVAL_SAMPLES inputs from EVAL_SEED."""
    try:
        from symest.estimators.sampling import sample_estimate
    except ImportError:
        value, stderr = evaluate(model, EVAL_SAMPLES, EVAL_SEED)
        return value, stderr, "symest.train.evaluate"
    est = sample_estimate(model, samples=EVAL_SAMPLES, seed=EVAL_SEED)
    return float(est.value), float(est.stderr), "sampling"


# ----------------------------------------------------------------------------------- README

README_HEAD = """# symest's bundled zoo

Tiny AlgZoo models trained by `scripts/build_zoo.py` with AlgZoo's recipe (AdamW, weight decay
1e-3, lr 0.04/sqrt(d), linear warm-up over 1/64 of the steps capped at 2^14, exponential decay
floored at 0.01 from half-way, batch 1024 fresh samples, PyTorch default init; see
`symest/train.py`), but with far fewer training sequences than ARC's 2^30 (the whole zoo was
trained on one shared CPU core in about an hour). Seeds: 0 and 1, then 2, 3, 4 (ARC's five)
while the best was more than 2 points short of ARC's figure (RMSE 0.02 above it for median).
Headline models (bold) tried seeds until they cleared their requirement with margin: M_{{4,3}}'s
accuracy depends on the basin a seed lands in far more than on training length (seeds 0-16
at 2^26 end between 52% and 97.9%).
Seeds were chosen by accuracy (RMSE for median) on 2^20 fresh validation inputs; the figures
below are symest's sampling estimate on {eval_samples} further fresh inputs (seed {eval_seed}),
± one standard error. ARC's figures are best of 5 seeds with 2^30 sequences each. "params"
counts all weights; "seed (of)" is the chosen seed and how many were tried.

Regenerate one model (bit-identical with the same JAX version on a CPU):

    symest train TASK --hidden D --seq-len N --seed S --sequences K --out models/NAME.safetensors

e.g. `symest train {ex_task} --hidden {ex_d} --seq-len {ex_n} --seed {ex_seed} --sequences {ex_k} \
--out models/{ex_name}.safetensors`.
Rebuild (resumably) the whole zoo: `python scripts/build_zoo.py` (see its docstring).

"""


def _fmt_value(e: dict) -> str:
    if e["metric"] == "rmse":
        if e["value"] < 1e-3:
            return f"{e['value']:.1e} ± {e['stderr']:.0e}"
        return f"{e['value']:.4f} ± {e['stderr']:.4f}"
    if e["stderr"] == 0:
        return f"{100 * e['value']:.2f}% (no errors)" if e["value"] == 1 else f"{100 * e['value']:.2f}%"
    # enough digits to show the standard error (so that 99.993% is told from 100%), 2 to 4
    digits = min(4, max(2, -math.floor(math.log10(100 * e["stderr"])))) if e["stderr"] > 0 else 4
    return f"{100 * e['value']:.{digits}f}% ± {100 * e['stderr']:.{digits}f}"


def _fmt_arc(e: dict) -> str:
    if e["arc"] is None:
        return "–"
    return f"{e['arc']:.3f}" if e["metric"] == "rmse" else f"{100 * e['arc']:.1f}%"


def _note(e: dict) -> str:
    if e["arc"] is None:
        return ""
    if e["metric"] == "rmse":
        gap = e["value"] - e["arc"]
        return f"RMSE {gap:.3f} above ARC's" if gap > max(0.02, 0.25 * e["arc"]) else ""
    gap = e["arc"] - e["value"]
    # "far below": more than 2 points, or more than 5x ARC's error rate when ARC is near 100%
    if gap > 0.02 or (gap > 0.002 and (1 - e["value"]) > 5 * max(1 - e["arc"], 1e-4)):
        return f"{100 * gap:.1f} points below ARC's"
    return ""


def render_readme(manifest: dict) -> None:
    entries = manifest["models"]
    headline = [e for e in entries if e["name"] in REQUIRED]
    rest = [e for e in entries if e["name"] not in REQUIRED]
    ex = headline[0] if headline else (entries[0] if entries else None)
    head = README_HEAD.format(
        eval_samples=f"2^{int(math.log2(EVAL_SAMPLES))}",
        eval_seed=EVAL_SEED,
        ex_task=ex["task"] if ex else "2nd_argmax", ex_d=ex["hidden"] if ex else 2, ex_n=ex["seq_len"] if ex else 2,
        ex_seed=ex["seed"] if ex else 0, ex_k=ex["train_sequences"] if ex else 2**26,
        ex_name=ex["name"] if ex else "2nd_argmax_2_2")
    lines = [head, f"{len(entries)} models; total training time {sum(e['train_seconds'] for e in entries) / 60:.1f} "
             "minutes (all seeds, wall clock on one shared core).\n",
             "| name | task | d | n | params | seed (of) | training sequences | ours | ARC | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for e in headline + rest:
        k = e["train_sequences"]
        seqs = f"2^{int(math.log2(k))}" if k & (k - 1) == 0 else str(k)
        name = f"**{e['name']}**" if e in headline else e["name"]
        lines.append(f"| {name} | {e['task']} | {e['hidden']} | {e['seq_len']} | {e['n_params']} | {e['seed']} "
                     f"({len(e['seeds_tried'])}) | {seqs} | {_fmt_value(e)} | {_fmt_arc(e)} | {_note(e)} |")
    lines.append("\nFor median the figure is the RMSE of the output (lower is better); elsewhere it is accuracy. "
                 "Headline models are in bold.")
    _atomic_write_text(MODELS / "README.md", "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------- build


def build_one(job: dict, progress: bool) -> dict:
    task = get_task(job["task"])
    name = name_of(job)
    best = None
    total_seconds = 0.0
    tried: list[int] = []
    for seed in job["seeds"] + job.get("extra_seeds", []):
        if seed not in job["seeds"] and best is not None and target_met(name, task.metric, best[0]):
            break
        tried.append(seed)
        result = train(task, job["hidden"], job["seq_len"], seed=seed, sequences=job["sequences"], progress=progress,
                       name=name)
        total_seconds += result.seconds
        valid, valid_se = evaluate(result.model, VALID_SAMPLES, VALID_SEED)
        print(f"  {name} seed {seed}: {result.steps} steps in {result.seconds:.1f}s "
              f"({result.steps / result.seconds:.0f} steps/s), final train {task.metric} "
              f"{result.accuracies[-1]:.4f}, validation {valid:.5f} ± {valid_se:.5f}", flush=True)
        better = best is None or (valid < best[0] if task.metric == "rmse" else valid > best[0])
        if better:
            best = (valid, seed, result)
    assert best is not None
    _, seed, result = best
    prov = dict(result.model.provenance)
    prov.update(seeds_tried=json.dumps(tried), name=name)
    model = result.model.__class__(result.model.task, result.model.seq_len, result.model.weights, name=name,
                                   dtype=result.model.dtype, provenance=prov)
    value, stderr, method = final_measure(model)
    write_model(model, MODELS / f"{name}.safetensors")
    entry = {"name": name, "file": f"{name}.safetensors", "task": task.name, "hidden": job["hidden"],
             "seq_len": job["seq_len"], "n_params": model.n_params, "seed": seed, "seeds_tried": tried,
             "train_sequences": result.steps * 1024, "train_seconds": round(total_seconds, 1), "metric": task.metric,
             "value": value, "stderr": stderr, "eval_samples": EVAL_SAMPLES, "eval_seed": EVAL_SEED,
             "arc": arc_figure(task.name, job["hidden"], job["seq_len"])}
    print(f"{name}: seed {seed}, {task.metric} {value:.5f} ± {stderr:.5f} ({method}), ARC {entry['arc']}", flush=True)
    entry["_steps_per_second"] = result.steps / result.seconds
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="build only these model names")
    ap.add_argument("--render-only", action="store_true", help="only re-render models/README.md")
    ap.add_argument("--redo", nargs="*", default=[], help="retrain these models even if in the manifest")
    ap.add_argument("--reevaluate", action="store_true",
                    help="re-measure every manifest entry (e.g. once the sampling estimator exists)")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--budget-minutes", type=float, default=None,
                    help="wall-clock budget; later jobs get fewer seeds/sequences to fit it")
    args = ap.parse_args(argv)
    MODELS.mkdir(exist_ok=True)
    manifest = load_manifest()
    if args.render_only:
        render_readme(manifest)
        return 0
    if args.reevaluate:
        from symest.checkpoints import read_model

        for e in manifest["models"]:
            e["value"], e["stderr"], method = final_measure(read_model(MODELS / e["file"]))
            print(f"{e['name']}: {e['value']:.5f} ± {e['stderr']:.5f} ({method})", flush=True)
            save_manifest(manifest)
        render_readme(manifest)
        return 0
    start = time.perf_counter()
    calibration = 1.0  # measured / estimated step time, updated as models finish
    jobs = plan()
    for i, job in enumerate(jobs):
        name = name_of(job)
        if args.only and name not in args.only:
            continue
        done = {e["name"] for e in manifest["models"] if (MODELS / e["file"]).is_file()} - set(args.redo)
        if name in done:
            continue
        if args.budget_minutes is not None:
            remaining = [j for j in jobs[i:] if name_of(j) not in done and (not args.only or name_of(j) in args.only)]
            seconds_left = 60 * args.budget_minutes - (time.perf_counter() - start)
            fitted = fit_budget(job, remaining, seconds_left, calibration)
            if fitted != job:
                print(f"  budget: {name} cut to seeds {fitted['seeds']}, 2^{int(math.log2(fitted['sequences']))} "
                      f"sequences ({seconds_left / 60:.1f} min left)", flush=True)
            job = fitted
        entry = build_one(job, args.progress)
        measured = 1e6 / entry.pop("_steps_per_second")
        calibration = 0.5 * calibration + 0.5 * measured / step_cost_us(job["task"], job["hidden"], job["seq_len"])
        need = REQUIRED.get(name)
        if need is not None and entry["value"] < need:
            (MODELS / entry["file"]).unlink(missing_ok=True)
            print(f"FAILED: {name} reached {entry['value']:.5f} < required {need}; not recorded, stopping", flush=True)
            return 1
        manifest["models"] = [e for e in manifest["models"] if e["name"] != name] + [entry]
        save_manifest(manifest)
        render_readme(manifest)
        print(f"[{(time.perf_counter() - start) / 60:.1f} min elapsed, calibration {calibration:.2f}]", flush=True)
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min; recipe: {RECIPE}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
