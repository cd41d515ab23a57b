"""The bundled zoo: every manifest entry loads, has its declared shape, and its figure re-measures.

Tolerance of the re-measurement: a fresh sample of SMALL = 2^14 inputs estimates the same quantity
as the manifest's 2^22-sample figure, independently. Under the hypothesis that the manifest is
right, ours - manifest has mean 0 and variance se_small^2 + se_manifest^2, so a 5-sigma band
fails a correct entry with probability below 1e-6 per entry (Gaussian approximation). For
accuracies we take se_small from the binomial variance at the manifest's value p,
sqrt(p (1 - p) / SMALL), rather than the sample's own estimate (which is 0 when the sample has
no errors), and floor it at 1 / SMALL, the granularity of the sample, so that near-perfect models
(p ~ 1 - 1e-5) do not fail on one unlucky error. For RMSE (median) se_small is the estimator's
own delta-method standard error.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from symest.checkpoints import read_model
from symest.forward import forward_numpy

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
MANIFEST = MODELS / "manifest.json"
SMALL = 2**14
SEED = 2024

HEADLINE = {"2nd_argmax_2_2": 0.9999, "2nd_argmax_4_3": 0.975, "2nd_argmax_16_10": 0.92}


def _entries() -> list[dict]:
    if not MANIFEST.is_file():
        return []
    return json.loads(MANIFEST.read_text())["models"]


ENTRIES = _entries()


# The sampling estimator compiles once per model shape (~0.7 s each on a busy core), so it
# re-measures the headline models and the first model of each task; the others are re-measured
# by an independent NumPy path (NumPy RNG, float32 NumPy forward, NumPy targets), which keeps
# the file well under a minute and cross-checks the JAX figures against a second implementation.
FIRST_OF_TASK = {e["task"]: e["name"] for e in reversed(ENTRIES)}
WITH_SAMPLER = set(HEADLINE) | set(FIRST_OF_TASK.values())


def _measure(model, samples: int, seed: int, sampler: bool) -> tuple[float, float]:
    """(value, stderr) with the sampling estimator, or the NumPy path."""
    if sampler:
        from symest.estimators.sampling import sample_estimate

        est = sample_estimate(model, samples=samples, seed=seed)
        return float(est.value), float(est.stderr)
    rng = np.random.default_rng(seed)
    n = model.seq_len
    if model.task.inputs == "function":
        x = rng.integers(0, n, size=(samples, n))
    else:
        x = rng.standard_normal((samples, n))
    out = forward_numpy(model, x, dtype="float32")
    y = model.task.target(x, np)
    if model.task.output == "scalar":
        sq = (out[:, 0] - y) ** 2
        rmse = float(np.sqrt(sq.mean()))
        return rmse, float(sq.std(ddof=1) / math.sqrt(samples) / (2 * max(rmse, 1e-12)))
    ok = np.argmax(out, axis=-1) == y
    return float(ok.mean()), float(ok.std(ddof=1) / math.sqrt(samples))


def test_manifest_format():
    assert MANIFEST.is_file(), "models/manifest.json is missing; run scripts/build_zoo.py"
    data = json.loads(MANIFEST.read_text())
    assert data["format"] == "symest-zoo/1"
    names = [e["name"] for e in data["models"]]
    assert len(names) == len(set(names))
    assert set(HEADLINE) <= set(names)
    keys = {"name", "file", "task", "hidden", "seq_len", "n_params", "seed", "seeds_tried", "train_sequences",
            "train_seconds", "metric", "value", "stderr", "eval_samples", "eval_seed", "arc"}
    for e in data["models"]:
        assert set(e) == keys, e["name"]
        assert e["name"] == f"{e['task']}_{e['hidden']}_{e['seq_len']}" and e["file"] == f"{e['name']}.safetensors"
        assert e["seed"] in e["seeds_tried"] and e["eval_samples"] >= 2**22
    total = sum(p.stat().st_size for p in MODELS.iterdir())
    assert total < 2_000_000  # models/ stays small


@pytest.mark.parametrize("name,need", sorted(HEADLINE.items()))
def test_headline_requirements(name, need):
    e = {e["name"]: e for e in ENTRIES}[name]
    assert e["value"] >= need


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_entry_loads_and_remeasures(entry):
    model = read_model(MODELS / entry["file"])
    assert model.task.name == entry["task"] and model.task.metric == entry["metric"]
    assert model.seq_len == entry["seq_len"] and model.hidden == entry["hidden"]
    assert model.n_params == entry["n_params"]
    d, n = entry["hidden"], entry["seq_len"]
    if model.arch == "rnn":
        k = model.task.out_size(n)
        assert model.W_hi.shape == (d, 1) and model.W_hh.shape == (d, d) and model.W_oh.shape == (k, d)
        assert model.n_params == d * (1 + d + k)
    else:
        assert model.weights["embed.weight"].shape == (n, d) and model.weights["unembed.weight"].shape == (n, d)
    assert model.provenance["seed"] == str(entry["seed"])
    assert model.provenance["train_sequences"] == str(entry["train_sequences"])
    assert json.loads(model.provenance["seeds_tried"]) == entry["seeds_tried"]

    value, se = _measure(model, SMALL, SEED, sampler=entry["name"] in WITH_SAMPLER)
    if entry["metric"] == "accuracy":
        p = entry["value"]
        se = max(math.sqrt(p * (1 - p) / SMALL), 1 / SMALL)
    tol = 5 * math.hypot(se, entry["stderr"])
    assert abs(value - entry["value"]) <= tol, f"{entry['name']}: {value} vs manifest {entry['value']} (tol {tol})"
