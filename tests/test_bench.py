"""The MSE-versus-compute harness (ARC's noisy-weights protocol) and its executors."""

import json
import math
import time

import numpy as np
import pytest

from symest import SymestError, get_task, make_model
from symest.bench import (
    BenchError,
    BenchResult,
    make_executor,
    noisy_copy,
    noisy_weights,
    run_bench,
    run_zoo_bench,
    weights_hash,
)
from symest.estimators import estimate
from symest.flops import per_sample_flops
from symest.handcrafted import handcrafted_3

BASE = handcrafted_3(lam=3)
PER = per_sample_flops(BASE)


def bench(tmp_path, **kw):
    opts = {"copies": 4, "budgets": [3e4, 1e6], "methods": ["sampling", "exact"], "executor": "serial",
            "cache_dir": tmp_path / "cache", "progress": False}
    return run_bench(kw.pop("model", BASE), **{**opts, **kw})


def strip(items):
    return [{k: v for k, v in it.items() if k != "seconds"} for it in items]


# ---------------------------------------------------------------------------------- noisy copies

def test_noisy_copies_are_seeded_per_copy_and_rounded_to_the_model_precision():
    a, b, c = noisy_copy(BASE, 0.05, 7, 3), noisy_copy(BASE, 0.05, 7, 3), noisy_copy(BASE, 0.05, 7, 4)
    assert weights_hash(a.weights) == weights_hash(b.weights) != weights_hash(c.weights)
    assert a.name.endswith("~3") and a.dtype == BASE.dtype
    diff = np.concatenate([(a.weights[k] - BASE.weights[k]).ravel() for k in BASE.weights])
    assert 0.02 < diff.std() < 0.09  # sigma 0.05 over 32 weights
    w32 = noisy_weights(BASE.weights, 0.05, 7, 3, "float32")
    assert all(np.array_equal(v, v.astype(np.float32).astype(np.float64)) for v in w32.values())


@pytest.mark.parametrize("kw", [{"sigma": 0}, {"sigma": -0.1}, {"sigma": math.nan}, {"copies": 0}, {"copies": -3},
                                {"budgets": []}, {"budgets": [1e4, -1]}, {"seed": -1}, {"methods": ["nope"]},
                                {"executor": "gpu"}])
def test_bad_settings_raise_one_line_errors(tmp_path, kw):
    with pytest.raises(SymestError) as e:
        bench(tmp_path, **kw)
    assert "\n" not in str(e.value)
    if "sigma" in kw or "copies" in kw:
        assert isinstance(e.value, BenchError) and isinstance(e.value, ValueError)


# ---------------------------------------------------------------------------------- the protocol

@pytest.fixture(scope="module")
def sampling_run(tmp_path_factory):
    """Sampling on 48 copies of a model whose copies' accuracies are known exactly."""
    return run_bench(BASE, copies=48, budgets=[2.5e3, 2.5e4, 100.0], methods=["sampling"], executor="serial",
                     cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_truths_are_exact_and_match_the_exact_method(sampling_run):
    r = sampling_run
    assert r.complete and r.truth_info["exact_copies"] == 48 and r.truth_info["met"]
    for k in (0, 17):
        assert r.truths[k]["value"] == estimate(noisy_copy(BASE, 0.05, 0, k), "exact").value
    assert 0.8 < np.mean(r.truth_values()) < 0.95


def test_measured_sampling_curve_matches_the_analytic_one(sampling_run):
    for s, row in zip(sampling_run.sampling_curve()[1:], [sampling_run.row("sampling", b) for b in (2.5e3, 2.5e4)],
                      strict=True):
        assert s["samples"] == int(s["budget"] // PER)
        assert s["analytic_rms"] == pytest.approx(math.sqrt(sampling_run.mean_pq() / s["samples"]))
        assert abs(s["measured_rms"] - s["analytic_rms"]) <= 4 * row["rms_stderr"]
        # sampling at its own FLOPs is sampling: the advantage ratio is 1 up to noise
        assert row["sampling_rms"] == pytest.approx(s["analytic_rms"], rel=1e-2)


def test_sampling_flops_are_samples_times_the_per_sample_cost(sampling_run):
    items = [it for it in sampling_run.items if it["status"] == "ok"]
    assert items
    for it in items:
        assert it["samples"] == int(it["budget"] // PER)
        assert it["flops"] == it["samples"] * PER
    # each (copy, budget) has its own seed: the same budget on two copies draws different inputs
    seeds = {(it["copy"], it["budget"]) for it in items}
    assert len(seeds) == len(items)


def test_unable_budgets_get_no_number(sampling_run):
    row = sampling_run.row("sampling", 100.0)  # below one sample (242 FLOPs)
    assert row["status"] == {"unable": 48} and row["rms_error"] is None and row["advantage"] is None
    md = sampling_run.to_markdown()
    assert "unable at this budget on 48/48 copies" in md
    assert sampling_run.sampling_curve()[0]["analytic_rms"] is None


def test_table_json_and_plot(tmp_path):
    r = bench(tmp_path, methods=["sampling", "exact", "adaptive"])
    md = r.to_markdown()
    assert "| exact | 1e+06 |" in md and "∞" in md  # exact reached: zero error, infinite advantage
    data = json.loads(json.dumps(r.to_json()))
    assert data["format"] == "symest-bench/1" and data["complete"] is True
    exact_row = next(x for x in data["rows"] if x["method"] == "exact" and x["budget"] == 1e6)
    assert exact_row["rms_error"] == 0 and exact_row["advantage"] == "inf"
    again = BenchResult.from_json(data)
    assert again.rows() == r.rows()
    path = r.plot(str(tmp_path / "mse.png"))
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert r.row("exact", 3e4)["kinds"] == {"bounds": 4} and r.row("exact", 3e4)["coverage"] == 1.0
    adaptive = r.row("adaptive", 3e4)
    assert adaptive["rms_error"] > 0 and adaptive["mean_flops"] <= 3e4


def test_ground_truth_cache_is_reused_and_corruption_is_rebuilt(tmp_path, capsys):
    first = bench(tmp_path)
    assert first.truth_info["cached"] == 0
    files = sorted((tmp_path / "cache" / "truth").glob("*.json"))
    assert len(files) == 4
    second = bench(tmp_path)
    assert second.truth_info["cached"] == 4 and second.truths == first.truths
    capsys.readouterr()
    files[0].write_text("{not json")
    data = json.loads(files[1].read_text())
    data["copy_weights"] = "0" * 64
    files[1].write_text(json.dumps(data))
    data = json.loads(files[2].read_text())
    del data["value"]
    files[2].write_text(json.dumps(data))
    third = bench(tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("symest: warning: corrupted ground-truth cache") for line in err)
    assert third.truths == first.truths and third.truth_info["cached"] == 1
    assert any("rebuilt 3" in n for n in third.notes)
    assert json.loads(files[0].read_text())["value"] == first.truths[int(json.loads(files[0].read_text())["copy"])][
        "value"]


def test_sampled_truth_when_exact_does_not_apply(tmp_path):
    """A model with biases: truths are sampled, more samples being drawn until precise enough."""
    w = dict(BASE.weights)
    w["rnn.bias_ih_l0"] = np.full(4, 0.01)
    w["rnn.bias_hh_l0"] = np.zeros(4)
    biased = make_model(get_task("2nd_argmax"), 3, w, name="biased", dtype="float64")
    r = bench(tmp_path, model=biased, copies=3, budgets=[1e5], methods=["sampling"], truth_samples=1 << 12,
              max_truth_samples=1 << 16)
    info = r.truth_info
    assert info["sampled_copies"] == 3 and info["exact_copies"] == 0
    assert info["samples"] > 1 << 12  # 4096 samples are too few next to sampling's own error at 1e5 FLOPs
    assert all(t["method"] == "sampling" and t["stderr"] > 0 for t in r.truths)
    assert "sampling on 3 copies" in info["note"]


class _Interrupting:
    name, workers = "fake", 1

    def __init__(self, after):
        self.after, self.closed = after, False

    def imap(self, fn, items):
        for i, item in enumerate(items):
            if i == self.after:
                raise KeyboardInterrupt
            yield i, fn(item)

    def close(self, cancel=False):
        self.closed = True


def test_an_interrupted_run_is_marked_incomplete(tmp_path, capsys):
    ex = _Interrupting(after=6)
    r = bench(tmp_path, executor=ex)
    assert not r.complete and ex.closed
    assert "interrupted after 6 of" in r.notes[0]
    assert r.to_markdown().startswith("**INCOMPLETE")
    assert r.to_json()["complete"] is False
    assert "interrupted" in capsys.readouterr().err


def test_zoo_sweep_shares_the_machinery(tmp_path):
    res = run_zoo_bench(["handcrafted_2nd_argmax_2", BASE], copies=2, budgets=[1e6], methods=["exact"],
                        executor="serial", cache_dir=tmp_path, progress=False)
    assert res.complete and [r.model for r in res.results] == ["handcrafted_2nd_argmax_2", BASE.name]
    assert all(r.row("exact", 1e6)["rms_error"] == 0 for r in res.results)
    assert len(res.to_json()["models"]) == 2 and "handcrafted_2nd_argmax_2" in res.to_markdown()
    assert res.plot(str(tmp_path / "zoo.png"))


# ---------------------------------------------------------------------------------- executors

SWEEP = {"copies": 3, "budgets": [5e3, 6e4], "methods": ["sampling", "adaptive", "exact"]}


def test_executor_settings_are_checked():
    with pytest.raises(SymestError, match="ray executor"):
        make_executor("local", address="127.0.0.1:1")
    with pytest.raises(SymestError, match="workers"):
        make_executor("local", workers=0)


@pytest.mark.slow
def test_local_process_pool_gives_identical_results(tmp_path):
    serial = bench(tmp_path, cache_dir=None, **SWEEP)
    local = bench(tmp_path, cache_dir=None, executor="local", workers=2, **SWEEP)
    assert local.executor == "local" and local.workers == 2
    assert strip(local.items) == strip(serial.items) and local.truths == serial.truths


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray starts its daemons by fork + exec
def test_ray_gives_identical_results(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (optional extra: pip install 'symest[ray]')")
    t0 = time.perf_counter()
    serial = bench(tmp_path, cache_dir=None, **SWEEP)
    ray_res = bench(tmp_path, cache_dir=None, executor="ray", workers=2, **SWEEP)
    assert ray_res.executor == "ray"
    assert strip(ray_res.items) == strip(serial.items) and ray_res.truths == serial.truths
    assert time.perf_counter() - t0 < 300


def test_unreachable_ray_address_is_one_line():
    pytest.importorskip("ray", reason="ray is not installed (optional extra: pip install 'symest[ray]')")
    with pytest.raises(SymestError, match=r"cannot reach a Ray cluster at 127\.0\.0\.1:1") as e:
        make_executor("ray", address="127.0.0.1:1")
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------- command line

def _bench_cli(argv):
    from symest.bench.cli import add_parser
    from symest.cli import _Parser

    p = _Parser(prog="symest")
    add_parser(p.add_subparsers(dest="cmd", required=True, parser_class=_Parser))
    a = p.parse_args(["bench", *argv])
    a.fn(a)


def test_bench_command(tmp_path, capsys):
    plot = tmp_path / "b.png"
    _bench_cli(["handcrafted_2nd_argmax_2", "--copies", "2", "--budgets", "1e4..1e5", "--methods", "exact,sampling",
                "--executor", "serial", "--no-cache", "--json", "--plot", str(plot)])
    data = json.loads(capsys.readouterr().out)
    assert data["copies"] == 2 and data["budgets"] == [1e4, 1e5] and data["methods"] == ["exact", "sampling"]
    assert plot.exists()
    for bad in (["handcrafted_2nd_argmax_2", "--budgets", "1e5..1e3"], ["handcrafted_2nd_argmax_2", "--plot", "x.txt"],
                ["--copies", "3"], ["handcrafted_2nd_argmax_2", "--copies", "0"]):
        with pytest.raises(SymestError):
            _bench_cli(bad)
