"""Our forward reproduces real PyTorch outputs, and a .pth converts losslessly to .safetensors.

The fixtures were written once by ``scripts/make_pth_fixtures.py`` with real torch (``out`` is
torch's float32 output, ``out64`` the same model run in float64), so these tests pin AlgZoo's
semantics (nn.RNN relu, bias terms, nn.MultiheadAttention) without torch installed.
"""

from pathlib import Path

import numpy as np
import pytest

from symest import load, read_model, write_model
from symest.forward import forward_numpy

FIX = Path(__file__).parent / "fixtures"
REF = np.load(FIX / "reference_outputs.npz")
CASES = {  # fixture -> (--task, --seq-len) a user would pass where the file name cannot tell
    "rnn_2nd_argmax_4_3": ("2nd_argmax", None),
    "rnn_bias_2nd_argmax_3_3": ("2nd_argmax", None),
    "rnn_median_2_3": ("median", 3),
    "transformer_longest_cycle_4_4": ("longest_cycle", None),
}


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_pytorch(name):
    task, n = CASES[name]
    model = load(str(FIX / f"{name}.pth"), task=task, seq_len=n)
    x = REF[f"{name}/x"]
    # float64 forward against torch's float64 run: agreement to rounding
    np.testing.assert_allclose(forward_numpy(model, x), REF[f"{name}/out64"], rtol=1e-10, atol=1e-10)
    # float32 forward against torch's float32 output: float32 rounding
    np.testing.assert_allclose(forward_numpy(model, x, dtype="float32"), REF[f"{name}/out"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_pth_and_safetensors_give_identical_logits(tmp_path, name):
    task, n = CASES[name]
    model = load(str(FIX / f"{name}.pth"), task=task, seq_len=n)
    back = read_model(write_model(model, tmp_path / f"{name}.safetensors"))
    x = REF[f"{name}/x"]
    assert back.task == model.task and back.seq_len == model.seq_len
    np.testing.assert_array_equal(forward_numpy(back, x), forward_numpy(model, x))
