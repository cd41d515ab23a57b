"""The ``symest`` command (see README.md for the contract).

Errors caused by input print one line ``symest: error: ...`` on stderr and exit 2; no
traceback. ``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from symest._errors import SymestError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        raise SymestError(f"{message} (see `{self.prog} --help`)")


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            v = kind(float(text)) if kind is int and "e" in text.lower() else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return v

    return parse


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="zoo name, handcrafted name, or a .safetensors / .pth file")
    p.add_argument("--task", help="task of a file that does not say (e.g. 2nd_argmax)")
    p.add_argument("--seq-len", type=_positive(int), help="sequence length when the file cannot tell")


def _load(a: argparse.Namespace) -> Any:
    from symest.zoo import load

    return load(a.model, task=a.task, seq_len=a.seq_len)


def _emit(a: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj) if getattr(a, "json", False) else text)


def _progress(a: argparse.Namespace) -> bool:
    return not getattr(a, "json", False) and sys.stderr.isatty()


def cmd_zoo(a: argparse.Namespace) -> None:
    from symest.report import zoo_table
    from symest.zoo import manifest

    rows = list(manifest())
    _emit(a, {"models": rows}, zoo_table(rows))


def cmd_info(a: argparse.Namespace) -> None:
    from symest.zoo import entry

    m = _load(a)
    obj = {"name": m.name, "task": m.task.name, "arch": m.arch, "hidden": m.hidden, "seq_len": m.seq_len,
           "n_params": m.n_params, "has_bias": m.has_bias, "dtype": m.dtype, "metric": m.task.metric,
           "tensors": {k: list(v.shape) for k, v in m.weights.items()}, "provenance": dict(m.provenance)}
    if (e := entry(m.name)) is not None:
        obj["zoo"] = e
    lines = [m.describe()] + [f"  {k}: {tuple(v.shape)}" for k, v in m.weights.items()]
    lines += [f"  {k}: {v}" for k, v in m.provenance.items()]
    _emit(a, obj, "\n".join(lines))


def cmd_estimate(a: argparse.Namespace) -> None:
    from symest.estimators import estimate

    m = _load(a)
    opts = {k: v for k, v in (("samples", a.samples), ("budget", a.budget)) if v is not None}
    opts.update({k.removeprefix("opt_"): v for k, v in vars(a).items() if k.startswith("opt_") and v})
    if getattr(a, "no_certify", False):
        opts["certify"] = False
    e = estimate(m, a.method, seed=a.seed, progress=_progress(a), **opts)
    text = f"{m.name} [{a.method}]: {e.summary()}"
    if "closed_form_latex" in e.details:
        text += (f"\nclosed form ({e.details['closed_form_regions']} regions, valid while its "
                 f"{len(e.details['closed_form_conditions'])} sign conditions hold; value "
                 f"{e.details['closed_form_value']:.15g}):\n{e.details['closed_form_latex']}")
    _emit(a, e.to_json(), text)


def cmd_sample(a: argparse.Namespace) -> None:
    a.method, a.budget = "sampling", None
    cmd_estimate(a)


def cmd_train(a: argparse.Namespace) -> None:
    from symest.checkpoints import write_model
    from symest.tasks import get_task
    from symest.train import train

    task = get_task(a.task)
    out = os.path.abspath(a.out)
    if not out.endswith(".safetensors"):
        raise SymestError(f"--out must end in .safetensors, got {a.out}")
    if not os.path.isdir(os.path.dirname(out)) or not os.access(os.path.dirname(out), os.W_OK):
        raise SymestError(f"cannot write {a.out}: folder missing or not writable")
    res = train(task, a.hidden, a.seq_len, seed=a.seed, sequences=a.sequences, progress=_progress(a),
                name=os.path.basename(out).removesuffix(".safetensors"))
    write_model(res.model, out)
    obj = {"out": a.out, "task": task.name, "hidden": a.hidden, "seq_len": a.seq_len, "seed": a.seed,
           "sequences": a.sequences, "steps": res.steps, "seconds": res.seconds,
           "final_loss": float(res.losses[-1]) if len(res.losses) else None}
    _emit(a, obj, f"wrote {a.out} ({res.steps} steps, {res.seconds:.1f} s, final loss {obj['final_loss']})")


def cmd_ledger(a: argparse.Namespace) -> None:
    from symest.derivation import run_proof

    est, led = run_proof(a.proof, model_name=a.model, samples=a.samples, seed=a.seed)
    if a.json:
        print(led.dumps())
    elif a.markdown:
        print(led.to_markdown())
    else:
        print(led.to_markdown())
        print(f"\nestimate: {est.summary()}")


def cmd_audit(a: argparse.Namespace) -> int:
    from symest.ledger import audit_file
    from symest.zoo import load

    res = audit_file(a.ledger, load(a.model, task=a.task, seq_len=a.seq_len))
    _emit(a, res.to_json(), res.summary())
    return res.exit_code


def cmd_check(a: argparse.Namespace) -> None:
    from symest.check import check_estimate

    if (a.estimate is None) == (a.proof is None):
        raise SymestError("give exactly one of --estimate VALUE or --proof FILE")
    r = check_estimate(_load(a), a.estimate if a.estimate is not None else a.proof, samples=a.samples, seed=a.seed)
    _emit(a, r.to_json(), r.summary())


def cmd_tour(a: argparse.Namespace) -> None:
    from symest.tour import tour

    tour(fast=a.fast)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="symest", description="Mechanistic estimation of AlgZoo's tiny networks.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    z = sub.add_parser("zoo", help="the bundled models")
    z.add_argument("action", choices=["list"])
    z.add_argument("--json", action="store_true")
    z.set_defaults(fn=cmd_zoo)

    i = sub.add_parser("info", help="describe a model")
    _model_args(i)
    i.add_argument("--json", action="store_true")
    i.set_defaults(fn=cmd_info)

    s = sub.add_parser("sample", help="seeded sampling estimate of accuracy (RMSE for median)")
    _model_args(s)
    s.add_argument("--samples", type=_positive(int), required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_sample)

    e = sub.add_parser("estimate", help="estimate accuracy with a chosen method")
    _model_args(e)
    e.add_argument("--method", default="sampling")
    e.add_argument("--samples", type=_positive(int))
    e.add_argument("--budget", type=_positive(float), help="compute budget in FLOPs")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--symbolic", dest="opt_symbolic", action="store_true",
                   help="(exact) also print the closed form as LaTeX (rank tasks, n <= 3)")
    e.add_argument("--cases", dest="opt_cases", choices=["auto", "fine", "coarse"],
                   help="(covariance) how finely to split input orderings")
    e.add_argument("--scoring", dest="opt_scoring", choices=["conditional", "plain"],
                   help="(covariance) score per case conditionally on the case region (default) or not")
    e.add_argument("--no-certify", action="store_true",
                   help="(exact) skip the float64 rounding certificate: fewer FLOPs, weaker error bound")
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=cmd_estimate)

    t = sub.add_parser("train", help="train a model with AlgZoo's recipe")
    t.add_argument("task")
    t.add_argument("--hidden", type=_positive(int), required=True)
    t.add_argument("--seq-len", type=_positive(int), required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--sequences", type=_positive(int), default=1 << 24)
    t.add_argument("--out", required=True)
    t.add_argument("--json", action="store_true")
    t.set_defaults(fn=cmd_train)

    lg = sub.add_parser("ledger", help="run a proof file: its estimate and surprise ledger")
    lg.add_argument("proof", help="a proofs/*.py file, optionally FILE:FUNCTION (default function: derive)")
    lg.add_argument("--model", help="run it on this model instead of the proof's own MODEL")
    lg.add_argument("--samples", type=_positive(int), default=1 << 20, help="samples for the residual term")
    lg.add_argument("--seed", type=int, default=0)
    fmt = lg.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    lg.set_defaults(fn=cmd_ledger)

    au = sub.add_parser("audit", help="re-verify a saved ledger's checks against a model")
    au.add_argument("ledger", help="a ledger JSON file (from `symest ledger --json`)")
    au.add_argument("--model", required=True)
    au.add_argument("--task")
    au.add_argument("--seq-len", type=_positive(int))
    au.add_argument("--json", action="store_true")
    au.set_defaults(fn=cmd_audit)

    ck = sub.add_parser("check", help="stratified NumPyro posterior of accuracy vs an estimate")
    _model_args(ck)
    ck.add_argument("--estimate", type=float)
    ck.add_argument("--proof", help="a proof file, optionally FILE:FUNCTION: compare its estimate")
    ck.add_argument("--samples", type=_positive(int), default=1 << 16)
    ck.add_argument("--seed", type=int, default=0)
    ck.add_argument("--json", action="store_true")
    ck.set_defaults(fn=cmd_check)

    from symest.bench.cli import add_parser as add_bench_parser

    add_bench_parser(sub)

    r = sub.add_parser("tour", help="a guided run over the bundled models")
    r.add_argument("--fast", action="store_true", help="smaller sample counts")
    r.set_defaults(fn=cmd_tour)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code = args.fn(args)
        if code:
            return int(code)
    except SymestError as e:
        print(f"symest: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("symest: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # a bug, not bad input: still one line unless asked for the traceback
        if os.environ.get("SYMEST_DEBUG"):
            raise
        print(f"symest: internal error: {type(e).__name__}: {e} (rerun with SYMEST_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
