"""Write the PyTorch checkpoint fixtures in tests/fixtures/ with real PyTorch (one-off).

symest itself never imports torch; this script exists so that the test suite can check
``symest.pth.read_pth`` (and the NumPy forward passes) against files and outputs produced by
real PyTorch. Run it from the repository root with a separate virtualenv that has torch:

    python3 -m venv .fixture-venv            # git-ignored
    .fixture-venv/bin/pip install torch numpy
    .fixture-venv/bin/python scripts/make_pth_fixtures.py

(The committed fixtures were made with torch 2.14.1 from PyPI, CPU only. Re-running it
rewrites them; the bytes differ each time because torch.save stores a random
serialization id, but the tensors and outputs are the same.)

Files written to tests/fixtures/:

- ``rnn_2nd_argmax_4_3.pth``: AlgZoo's RNN layout, hidden 4, 3 logits, no biases.
- ``rnn_median_2_3.pth``: hidden 2, scalar output (``nn.Linear(2, 1)``), no biases.
- ``rnn_bias_2nd_argmax_3_3.pth``: hidden 3, 3 logits, bias=True in both modules.
- ``transformer_longest_cycle_4_4.pth``: attention-only transformer, vocab 4, width 4, 2 layers.
  Each model is built right after ``torch.manual_seed(0)`` (default init) and saved with
  ``torch.save(model.state_dict(), path)``.
- ``reference_outputs.npz``: for each model NAME above: ``NAME/<state_dict key>`` (the saved
  tensors), ``NAME/x`` (inputs: RNN float32 (64, n) drawn from N(0, 1); transformer int64
  (64, n) tokens uniform on 0..n-1), ``NAME/out`` (torch's float32 output: RNN
  ``linear(h_n)`` of shape (64, k), k = 1 for median; transformer logits (64, n)) and
  ``NAME/out64`` (the same model converted to float64, run on ``x`` in float64).
- ``hostile.pth``: torch's zip layout whose data.pkl, built by hand from pickle opcodes, calls
  ``posix.system("touch /tmp/symest_pwned")``; ``hostile_builtin.pth``: the same calling
  ``builtins.eval`` (protocol 4, STACK_GLOBAL). Never load these with pickle/torch.load.
- ``truncated.pth``: the first half of the bytes of ``rnn_2nd_argmax_4_3.pth``.
- ``not_a_zip.pth``: 256 random bytes. ``legacy.pth``: the 4_3 state_dict saved with
  ``_use_new_zipfile_serialization=False`` (the pre-1.6 format symest refuses).
"""

from __future__ import annotations

import io
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
BATCH = 64
PWNED = "/tmp/symest_pwned"


class RNNModel(nn.Module):
    """AlgZoo's RNN: ReLU RNN with input size 1, then a linear readout of the final state."""

    def __init__(self, hidden: int, out: int, bias: bool = False) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size=1, hidden_size=hidden, nonlinearity="relu", bias=bias, batch_first=True)
        self.linear = nn.Linear(hidden, out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(x[..., None])
        return self.linear(h[-1])


class AttnOnlyTransformer(nn.Module):
    """AlgZoo's longest_cycle model: embeddings + residual single-head attention layers."""

    def __init__(self, n: int, hidden: int, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(n, hidden)
        self.pos_embed = nn.Embedding(n, hidden)
        self.attns = nn.ModuleList(
            nn.MultiheadAttention(hidden, num_heads=1, bias=False, batch_first=True) for _ in range(layers)
        )
        self.unembed = nn.Linear(hidden, n, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos_embed(torch.arange(tokens.shape[-1]))
        for attn in self.attns:
            x = x + attn(x, x, x, need_weights=False)[0]
        return self.unembed(x[:, -1])


def _models() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1234)
    specs: dict[str, tuple[nn.Module, torch.Tensor]] = {}
    for name, hidden, n, out, bias in [
        ("rnn_2nd_argmax_4_3", 4, 3, 3, False),
        ("rnn_median_2_3", 2, 3, 1, False),
        ("rnn_bias_2nd_argmax_3_3", 3, 3, 3, True),
    ]:
        torch.manual_seed(0)
        specs[name] = (RNNModel(hidden, out, bias), torch.randn(BATCH, n, generator=gen))
    torch.manual_seed(0)
    specs["transformer_longest_cycle_4_4"] = (
        AttnOnlyTransformer(4, 4, 2),
        torch.randint(0, 4, (BATCH, 4), generator=gen),
    )
    return specs


def _storage_entries(pth: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pth) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write_like(template: Path, dest: Path, data_pkl: bytes) -> None:
    """Copy torch's archive layout from ``template``, replacing data.pkl."""
    entries = _storage_entries(template)
    prefix = next(n for n in entries if n.endswith("/data.pkl")).split("/")[0]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            new = f"{dest.stem}/{name.split('/', 1)[1]}" if name.startswith(prefix) else name
            zf.writestr(new, data_pkl if name.endswith("/data.pkl") else data)


def _unicode(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _hostile_posix() -> bytes:
    """OrderedDict([("linear.weight", posix.system("touch ..."))]), protocol 2, by hand."""
    return (
        b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01("
        + _unicode("linear.weight")
        + b"cposix\nsystem\nq\x02"
        + _unicode(f"touch {PWNED}")
        + b"\x85R"  # TUPLE1, REDUCE: system(cmd)
        + b"u."  # SETITEMS, STOP
    )


def _hostile_eval() -> bytes:
    """{"linear.weight": builtins.eval("__import__('os').system(...)")}, protocol 4."""
    code = f"__import__('os').system('touch {PWNED}')"
    return (
        b"\x80\x04}\x94("
        + _unicode("linear.weight")
        + _unicode("builtins")
        + _unicode("eval")
        + b"\x93\x94"  # STACK_GLOBAL
        + _unicode(code)
        + b"\x85R"
        + b"u."
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ref: dict[str, np.ndarray] = {}
    for name, (model, x) in _models().items():
        model.eval()
        path = OUT / f"{name}.pth"
        torch.save(model.state_dict(), path)
        for key, value in model.state_dict().items():
            ref[f"{name}/{key}"] = value.detach().numpy().copy()
        with torch.no_grad():
            out = model(x)
            out64 = model.double()(x.double() if x.is_floating_point() else x)
        ref[f"{name}/x"] = x.numpy()
        ref[f"{name}/out"] = out.numpy()
        ref[f"{name}/out64"] = out64.numpy()
    np.savez(OUT / "reference_outputs.npz", **ref)

    base = OUT / "rnn_2nd_argmax_4_3.pth"
    _write_like(base, OUT / "hostile.pth", _hostile_posix())
    _write_like(base, OUT / "hostile_builtin.pth", _hostile_eval())
    raw = base.read_bytes()
    (OUT / "truncated.pth").write_bytes(raw[: len(raw) // 2])
    (OUT / "not_a_zip.pth").write_bytes(np.random.default_rng(0).bytes(256))
    torch.manual_seed(0)
    torch.save(RNNModel(4, 3).state_dict(), OUT / "legacy.pth", _use_new_zipfile_serialization=False)

    # Sanity: the hand-built payloads are well-formed pickles (checked statically, never run).
    for payload in (_hostile_posix(), _hostile_eval()):
        pickletools.dis(payload, out=io.StringIO())
    print(f"torch {torch.__version__}: wrote", ", ".join(sorted(p.name for p in OUT.iterdir())))


if __name__ == "__main__":
    main()
