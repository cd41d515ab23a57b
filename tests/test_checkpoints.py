"""safetensors round trip, validation of weights, and atomic writes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symest import (
    CheckpointError,
    ModelError,
    SymestError,
    TaskError,
    get_task,
    load,
    make_model,
    read_model,
    write_model,
)
from symest.forward import forward_numpy
from symest.handcrafted import handcrafted_3
from tests.test_forward import random_rnn, random_transformer


@given(st.integers(0, 2**31 - 1), st.sampled_from(["2nd_argmax", "argmedian", "median", "longest_cycle"]),
       st.integers(1, 5), st.sampled_from([3, 5]))
def test_safetensors_round_trip(tmp_path_factory, seed, task, d, n):
    rng = np.random.default_rng(seed)
    m = random_transformer(rng, d, n) if task == "longest_cycle" else random_rnn(rng, d, n, task)
    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    write_model(m, path)
    back = read_model(path)
    assert back.task == m.task and back.seq_len == m.seq_len
    for k, v in m.weights.items():
        np.testing.assert_array_equal(back.weights[k], v.astype(np.float32))
    x = rng.integers(0, n, (8, n)) if task == "longest_cycle" else rng.standard_normal((8, n))
    np.testing.assert_allclose(forward_numpy(back, x), forward_numpy(m, x), rtol=1e-5, atol=1e-5)


def test_float64_models_keep_precision(tmp_path):
    m = handcrafted_3()
    write_model(m, tmp_path / "h3.safetensors")
    back = read_model(tmp_path / "h3.safetensors")
    assert back.dtype == "float64"
    for k, v in m.weights.items():
        np.testing.assert_array_equal(back.weights[k], v)


def _weights(d=2, n=3, k=None):
    rng = np.random.default_rng(0)
    return {"rnn.weight_ih_l0": rng.standard_normal((d, 1)), "rnn.weight_hh_l0": rng.standard_normal((d, d)),
            "linear.weight": rng.standard_normal((k or n, d))}


@pytest.mark.parametrize("mutate, match", [
    (lambda w: w.update({"linear.weight": np.full((3, 2), np.nan)}), "NaN or infinite"),
    (lambda w: w["rnn.weight_hh_l0"].__setitem__((0, 0), np.inf) or w, "NaN or infinite"),
    (lambda w: w.update({"rnn.weight_hh_l0": np.ones((2, 3))}), "shape"),
    (lambda w: w.update({"linear.weight": np.ones((4, 2))}), "needs 3 rows"),
    (lambda w: w.pop("linear.weight"), "missing"),
    (lambda w: w.update({"extra.weight": np.ones(2)}), "unexpected"),
    (lambda w: w.update({"rnn.weight_ih_l1": np.ones((2, 2))}), "1-layer"),
])
def test_bad_weights_are_refused(mutate, match):
    w = _weights()
    mutate(w)
    with pytest.raises(ModelError, match=match) as err:
        make_model(get_task("2nd_argmax"), 3, w)
    assert "\n" not in str(err.value)


def test_task_rules():
    with pytest.raises(TaskError, match="odd"):
        make_model(get_task("argmedian"), 4, _weights(n=4))
    with pytest.raises(TaskError, match="unknown task"):
        get_task("third_argmax")


def test_unreadable_files(tmp_path):
    m = make_model(get_task("2nd_argmax"), 3, _weights())
    good = write_model(m, tmp_path / "m.safetensors")
    data = good.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    for name in ("trunc.safetensors", "junk.safetensors", "missing.safetensors"):
        with pytest.raises(CheckpointError) as err:
            read_model(tmp_path / name)
        assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="unknown file type"):
        (tmp_path / "m.npz").write_bytes(b"x")
        read_model(tmp_path / "m.npz")


def test_write_is_atomic_and_refuses_bad_targets(tmp_path):
    m = make_model(get_task("2nd_argmax"), 3, _weights())
    with pytest.raises(CheckpointError, match="does not exist"):
        write_model(m, tmp_path / "nope" / "m.safetensors")
    with pytest.raises(CheckpointError, match="only write"):
        write_model(m, tmp_path / "m.pth")
    assert list(tmp_path.iterdir()) == []


def test_load_resolves_names_and_rejects_unknown():
    assert load("handcrafted_2nd_argmax_3").n_params == 32
    with pytest.raises(SymestError, match="unknown model"):
        load("2nd_argmax_99_99")
    with pytest.raises(SymestError, match="--task"):
        load("handcrafted_2nd_argmax_2", task="median")
