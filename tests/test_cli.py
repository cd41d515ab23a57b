"""The command-line contract: one JSON object with --json; one error line and exit 2 on bad input."""

import json
import subprocess
import sys

import pytest


def run(*args, ok=True):
    p = subprocess.run([sys.executable, "-m", "symest.cli", *args], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def test_sample_json_is_one_object_and_deterministic():
    a = run("sample", "handcrafted_2nd_argmax_3", "--samples", "20000", "--seed", "5", "--json")
    b = run("sample", "handcrafted_2nd_argmax_3", "--samples", "20000", "--seed", "5", "--json")
    obj, again = json.loads(a.stdout), json.loads(b.stdout)
    assert a.stdout.count("\n") == 1
    obj.pop("seconds"), again.pop("seconds")  # wall time is the one field that may differ
    assert obj == again
    for key in ("model", "method", "estimate", "flops", "stderr"):
        assert key in obj


def test_info_and_zoo_list():
    obj = json.loads(run("info", "handcrafted_2nd_argmax_10", "--json").stdout)
    assert obj["n_params"] == 726 and obj["hidden"] == 22
    assert "models" in json.loads(run("zoo", "list", "--json").stdout)


@pytest.mark.parametrize("args, needle", [
    (["sample", "no_such_model", "--samples", "10"], "unknown model"),
    (["sample", "handcrafted_2nd_argmax_2", "--samples", "0"], "positive"),
    (["sample", "handcrafted_2nd_argmax_2", "--samples", "-5"], "positive"),
    (["estimate", "handcrafted_2nd_argmax_2", "--method", "nonsense"], "unknown method"),
    (["info", "/no/such/file.pth"], "no such file"),
    (["info", "handcrafted_2nd_argmax_2", "--task", "nonsense_task"], "nonsense_task"),
    (["train", "nonsense_task", "--hidden", "2", "--seq-len", "2", "--out", "/tmp/x.safetensors"], "unknown task"),
    (["bogus-command"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    p = run(*args, ok=False)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symest: error:") and needle in lines[0], p.stderr


def test_ledger_runs_a_named_function_of_a_proof_file(tmp_path):
    """`symest ledger FILE:FUNCTION` runs that function's derivation (here ARC's second M_{4,3}
    estimator); its saved ledger audits clean; an unknown function is one error line."""
    out = run("ledger", "proofs/m43.py:derive_symmetric", "--samples", "4096", "--json")
    led = json.loads(out.stdout)
    assert "symmetric" in json.dumps(led["derivation"])
    path = tmp_path / "sym.json"
    path.write_text(out.stdout)
    assert run("audit", str(path), "--model", "2nd_argmax_4_3").returncode == 0
    bad = run("ledger", "proofs/m43.py:no_such_function", ok=False)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no_such_function" in bad.stderr
