r"""Checking estimates against sampled behaviour: residual surprise and NumPyro posteriors.

Residual surprise (:func:`residual_bits`)
-----------------------------------------
The estimate q with its stated uncertainty becomes a distribution over the accuracy p:

* exact (or a numerical bound below 1e-9): a point mass at q, so P(k | estimate) =
  Binomial(N, q).pmf(k);
* otherwise a Beta with mean q and standard deviation s (``stderr`` for approximate/statistical
  estimates, the error bound for numerical ones, (upper - lower)/sqrt(12) for intervals), so
  P(k | estimate) = BetaBinomial(N, alpha, beta).pmf(k) (a marginal likelihood).

The residual is ``log2 [Binomial(N, k/N).pmf(k) / P(k | estimate)]`` >= 0: the bits the
estimate loses against the best possible point estimate p = k/N. It is next to 0 for a correct
exact estimate (on average chi^2_1 / (2 ln 2) ~ 0.7 bits from sampling noise) and grows as the
estimate moves away. The no-explanation baseline is the same with a uniform prior on p
(BetaBinomial(N, 1, 1): pmf 1/(N+1)). Log-probabilities come from NumPyro's distributions in
float64.

Stratified posterior (:func:`check_estimate`)
---------------------------------------------
Inputs are drawn with NumPy (seeded), run through the model in its own precision, scored, and
counted per stratum: for rank tasks the case (position of the largest input, position of the
second largest), n (n - 1) strata of equal probability; otherwise one stratum. The model
``k_s ~ Binomial(N_s, p_s)``, ``logit p_s = mu + tau z_s``, ``z_s ~ N(0, 1)``, ``mu ~ N(0, 5)``,
``tau ~ HalfNormal(2)`` is fitted by NUTS (2 chains, 300 warm-up and 500 kept draws each, tree
depth <= 6); the overall accuracy is the stratum-probability-weighted mean of p_s. Reported:
posterior mean, 99% interval (equal-tailed; a stratum with no failures has its upper end at 1,
since no number of successes excludes accuracy 1), r_hat and effective sample size, overall and
per stratum; strata where the derivation's per-stratum estimate lies outside the 99% interval are
flagged. Most of the run time is JAX compiling the sampler (seconds); the model has one
parameter per stratum plus two.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symest._errors import BudgetError, MethodError
from symest.estimate import Estimate
from symest.model import Model

DEFAULT_SAMPLES = 1 << 20
CHUNK = 1 << 16
POINT_SD = 1e-9


# ----------------------------------------------------------------------------------------------
# Sampling outcomes per stratum
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """Correct counts of N seeded samples, overall and per stratum."""

    samples: int
    correct: int
    seed: int
    strata: tuple[tuple[int, ...], ...]
    n: np.ndarray  # samples per stratum
    k: np.ndarray  # correct per stratum
    weights: np.ndarray  # probability of each stratum under the input distribution

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples


def _strata(model: Model) -> tuple[tuple[tuple[int, ...], ...], np.ndarray]:
    n = model.seq_len
    if model.task.above(n) is not None and n >= 2:
        keys = tuple((a, b) for a in range(n) for b in range(n) if a != b)
        return keys, np.full(len(keys), 1.0 / len(keys))
    return ((),), np.ones(1)


def sample_outcomes(model: Model, samples: int, seed: int = 0, chunk: int = CHUNK) -> Outcomes:
    """Draw ``samples`` seeded inputs (NumPy), score them in the model's precision, count per stratum."""
    from symest.forward import forward_numpy

    if model.task.metric != "accuracy":
        raise MethodError(f"checks compare accuracies; {model.task.name} is scored by {model.task.metric}")
    if samples <= 0:
        raise BudgetError(f"sample count must be positive, got {samples}")
    rng = np.random.default_rng(seed)
    n = model.seq_len
    keys, weights = _strata(model)
    rank = keys != ((),)
    nn = np.zeros(n * n if rank else 1, dtype=np.int64)
    kk = np.zeros_like(nn)
    done = 0
    while done < samples:
        c = min(chunk, samples - done)
        if model.task.inputs == "function":
            xs = rng.integers(0, n, (c, n))
        else:
            xs = rng.standard_normal((c, n)).astype(model.dtype)
        ok = np.asarray(model.task.score(xs, forward_numpy(model, xs, dtype=model.dtype), np), dtype=bool)
        if rank:
            order = np.argsort(xs, axis=1, kind="stable")
            idx = order[:, -1] * n + order[:, -2]
            nn += np.bincount(idx, minlength=n * n)
            kk += np.bincount(idx, weights=ok, minlength=n * n).astype(np.int64)
        else:
            nn[0] += c
            kk[0] += int(ok.sum())
        done += c
    if rank:
        sel = np.array([a * n + b for a, b in keys])
        nn, kk = nn[sel], kk[sel]
    return Outcomes(samples, int(kk.sum()), seed, keys, nn, kk, weights)


# ----------------------------------------------------------------------------------------------
# Residual surprise
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Residual:
    bits: float
    baseline_bits: float
    samples: int
    correct: int
    estimate: float
    sd: float | None
    model: str  # "point" or "beta"

    def to_json(self) -> dict[str, Any]:
        return {"bits": self.bits, "baseline_bits": self.baseline_bits, "samples": self.samples,
                "correct": self.correct, "observed": self.correct / self.samples, "estimate": self.estimate,
                "sd": self.sd, "distribution": self.model}


def _x64() -> contextlib.AbstractContextManager:
    import jax

    return jax.enable_x64(True)


def estimate_sd(est: Estimate | float) -> tuple[float, float | None]:
    """(value, sd or None for a point mass) of an Estimate or a bare number (a point mass)."""
    if not isinstance(est, Estimate):
        return float(est), None
    if est.kind == "bounds" and est.lower is not None and est.upper is not None:
        return float(est.value), (est.upper - est.lower) / math.sqrt(12)
    if est.kind in ("approximate", "statistical"):
        return float(est.value), est.stderr if est.stderr else None
    eb = est.error_bound or 0.0
    return float(est.value), eb if eb > POINT_SD else None


def residual_bits(estimate: Estimate | float, correct: int, samples: int, sd: float | None = None) -> Residual:
    """Residual surprise of ``estimate`` given ``correct`` of ``samples`` (see the module docstring)."""
    import jax.numpy as jnp
    from numpyro import distributions as dist

    if samples <= 0 or not 0 <= correct <= samples:
        raise BudgetError(f"need 0 <= correct <= samples > 0, got {correct} of {samples}")
    q, s = estimate_sd(estimate)
    if sd is not None:
        s = sd if sd > POINT_SD else None
    n, k = float(samples), float(correct)
    with _x64():
        best = float(dist.Binomial(total_count=n, probs=jnp.float64(k / n)).log_prob(k)) if 0 < k < n else 0.0
        base = -math.log(samples + 1)
        qc = min(max(q, 0.0), 1.0)
        model = "point"
        if s is None:
            if qc in (0.0, 1.0):
                logp = 0.0 if k == n * qc else -math.inf
            else:
                logp = float(dist.Binomial(total_count=n, probs=jnp.float64(qc)).log_prob(k))
        else:
            m = min(max(qc, 1e-12), 1 - 1e-12)
            var = min(s * s, m * (1 - m) / 3)  # concentration >= 2
            nu = m * (1 - m) / var - 1
            if nu > 1e12:
                logp = float(dist.Binomial(total_count=n, probs=jnp.float64(m)).log_prob(k))
            else:
                model = "beta"
                logp = float(dist.BetaBinomial(jnp.float64(m * nu), jnp.float64((1 - m) * nu),
                                               total_count=n).log_prob(k))
    bits = max(0.0, (best - logp) / math.log(2)) if math.isfinite(logp) else math.inf
    return Residual(bits, max(0.0, (best - base) / math.log(2)), samples, correct, q, s, model)


def residual_for_model(model: Model, est: Estimate | float, samples: int, seed: int = 0) -> dict[str, Any]:
    """Sample the model and return the residual record a ledger stores."""
    out = sample_outcomes(model, samples, seed)
    r = residual_bits(est, out.correct, out.samples)
    return {**r.to_json(), "seed": seed, "method": "numpy sampling, model precision"}


# ----------------------------------------------------------------------------------------------
# Stratified posterior by NUTS
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posterior:
    name: str
    samples: int
    correct: int
    mean: float
    lo: float
    hi: float
    r_hat: float
    ess: float
    estimate: float | None = None

    @property
    def flagged(self) -> bool:
        return self.estimate is not None and not (self.lo <= self.estimate <= self.hi)

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "samples": self.samples, "correct": self.correct, "mean": self.mean,
               "interval_99": [self.lo, self.hi], "r_hat": self.r_hat, "ess": self.ess}
        if self.estimate is not None:
            out |= {"estimate": self.estimate, "flagged": self.flagged}
        return out


@dataclass
class CheckResult:
    """Posterior check of an estimate against sampled behaviour."""

    model: str
    estimate: float | None
    overall: Posterior
    strata: list[Posterior]
    residual: Residual | None
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> list[str]:
        return [p.name for p in self.strata if p.flagged] + (["overall"] if self.overall.flagged else [])

    @property
    def consistent(self) -> bool:
        return not self.flagged

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "estimate": self.estimate, "overall": self.overall.to_json(),
                "strata": [p.to_json() for p in self.strata], "flagged": self.flagged,
                "consistent": self.consistent,
                "residual": None if self.residual is None else self.residual.to_json(),
                "seconds": round(self.seconds, 3), **self.settings}

    def summary(self) -> str:
        o = self.overall
        lines = [f"{self.model}: {o.correct}/{o.samples} correct; posterior accuracy {o.mean:.6f}, "
                 f"99% interval [{o.lo:.6f}, {o.hi:.6f}], r_hat {o.r_hat:.3f}, ESS {o.ess:.0f}"]
        if self.estimate is not None:
            lines.append(f"estimate {self.estimate:.8g}: {'inside' if not o.flagged else 'OUTSIDE'} the 99% interval")
        if self.residual is not None:
            r = self.residual
            lines.append(f"residual surprise {r.bits:.2f} bits (no-explanation baseline {r.baseline_bits:.2f} bits)")
        if len(self.strata) > 1:
            lines.append("stratum (largest, second)   N        k        mean      99% interval            "
                         "r_hat   ESS   estimate")
            for p in self.strata:
                est = "" if p.estimate is None else f"{p.estimate:.6f}" + ("  <-- outside" if p.flagged else "")
                lines.append(f"  {p.name:<24} {p.samples:<8} {p.correct:<8} {p.mean:.6f}  [{p.lo:.6f}, {p.hi:.6f}]  "
                             f"{p.r_hat:.3f}  {p.ess:5.0f}  {est}")
        return "\n".join(lines)


def _hier_model(n_s: Any, k_s: Any) -> None:
    import jax.numpy as jnp
    import numpyro
    from numpyro import distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(2.0))
    with numpyro.plate("strata", n_s.shape[0]):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        logit = mu + tau * z
        numpyro.deterministic("p", 1.0 / (1.0 + jnp.exp(-logit)))
        numpyro.sample("k", dist.Binomial(total_count=n_s, logits=logit), obs=k_s)


@functools.lru_cache(maxsize=16)
def _runner(strata: int, warmup: int, draws: int, chains: int, depth: int) -> Any:
    """A jitted NUTS run (NumPyro's NUTS kernel, chains vectorized) for ``strata`` strata, compiled
    once per shape and reused for any counts: compilation dominates the run time."""
    import jax
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import potential_energy

    def gen(n_s: Any, k_s: Any) -> Any:
        return lambda params: potential_energy(_hier_model, (n_s, k_s), {}, params)

    init_kernel, sample_kernel = hmc(potential_fn_gen=gen, algo="NUTS")

    def one_chain(key: Any, init: Any, n_s: Any, k_s: Any) -> Any:
        state = init_kernel(init, warmup, target_accept_prob=0.9, max_tree_depth=depth, model_args=(n_s, k_s),
                            rng_key=key)

        def step(st: Any, _: Any) -> Any:
            st = sample_kernel(st, model_args=(n_s, k_s))
            return st, st.z

        state, _ = jax.lax.scan(step, state, None, length=warmup)
        _, zs = jax.lax.scan(step, state, None, length=draws)
        return zs

    return jax.jit(jax.vmap(one_chain, in_axes=(0, None, None, None)))


def fit_strata(n_s: np.ndarray, k_s: np.ndarray, weights: np.ndarray | None = None, *, seed: int = 0,
               warmup: int = 300, draws: int = 500, chains: int = 2, max_tree_depth: int = 6,
               names: list[str] | None = None) -> tuple[Posterior, list[Posterior]]:
    """Fit the hierarchical model to per-stratum counts: (overall, per-stratum) posteriors."""
    import jax
    import jax.numpy as jnp
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

    n_s = np.asarray(n_s, dtype=np.float64)
    k_s = np.asarray(k_s, dtype=np.float64)
    w = np.full(len(n_s), 1.0 / len(n_s)) if weights is None else np.asarray(weights, dtype=np.float64)
    names = names or [str(i) for i in range(len(n_s))]
    with _x64():
        run = _runner(len(n_s), warmup, draws, chains, max_tree_depth)
        rate = float(np.clip((k_s.sum() + 0.5) / (n_s.sum() + 1.0), 1e-6, 1 - 1e-6))
        init = {"mu": jnp.float64(math.log(rate / (1 - rate))), "tau": jnp.float64(math.log(0.5)),
                "z": jnp.zeros(len(n_s))}  # unconstrained: tau = exp(.)
        zs = run(jax.random.split(jax.random.key(seed), chains), init, jnp.asarray(n_s), jnp.asarray(k_s))
        logit = np.asarray(zs["mu"])[..., None] + np.exp(np.asarray(zs["tau"]))[..., None] * np.asarray(zs["z"])
        p = 1.0 / (1.0 + np.exp(-logit))  # (chains, draws, S)
    overall = (p * w).sum(axis=-1)

    def post(name: str, chain_draws: np.ndarray, nn: int, kk: int) -> Posterior:
        lo, hi = np.quantile(chain_draws.ravel(), [0.005, 0.995])
        # no failure (success) seen: the data cannot exclude accuracy 1 (0), so the interval reaches it
        hi = 1.0 if kk == nn else hi
        lo = 0.0 if kk == 0 else lo
        rh = float(split_gelman_rubin(chain_draws)) if chains > 1 else float("nan")
        ess = float(effective_sample_size(chain_draws))
        return Posterior(name, nn, kk, float(chain_draws.mean()), float(lo), float(hi), rh, ess)

    strata = [post(names[i], p[..., i], int(n_s[i]), int(k_s[i])) for i in range(len(n_s))]
    return post("overall", overall, int(n_s.sum()), int(k_s.sum())), strata


def check_estimate(model: Model, estimate: Any = None, samples: int = DEFAULT_SAMPLES, seed: int = 0, *,
                   warmup: int = 300, draws: int = 500, chains: int = 2) -> CheckResult:
    """Fit the stratified posterior to ``samples`` seeded outcomes and compare an estimate with it.

    ``estimate``: a number, an :class:`~symest.estimate.Estimate`, a
    :class:`~symest.derivation.Derivation` (run on the model; its per-stratum estimates, if any,
    are compared stratum by stratum), a path to a proof file, or None (posterior only).
    """
    from pathlib import Path

    from symest._errors import SymestError
    from symest.derivation import Derivation, DerivationError, build_proof, split_proof_name

    t0 = time.perf_counter()
    strata_est: Mapping[str, float] | None = None
    est_obj: Estimate | float | None = None
    if isinstance(estimate, (str, Path)) and Path(split_proof_name(estimate)[0]).suffix == ".py":
        estimate = build_proof(estimate, model)
    if isinstance(estimate, Derivation):
        try:
            est_obj, _ledger = estimate.run(model)
        except SymestError:
            raise
        except Exception as e:
            raise DerivationError(f"derivation {estimate.name!r} failed on {model.name}: {type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:200]}") from None
        strata_est = est_obj.details.get("strata")
    elif isinstance(estimate, Estimate):
        est_obj = estimate
        strata_est = estimate.details.get("strata")
    elif estimate is not None:
        est_obj = float(estimate)
        if not 0.0 <= est_obj <= 1.0:
            raise BudgetError(f"an accuracy estimate must lie in [0, 1], got {est_obj}")
    out = sample_outcomes(model, samples, seed)
    names = [",".join(map(str, s)) if s else "all" for s in out.strata]
    overall, strata = fit_strata(out.n, out.k, out.weights, seed=seed, warmup=warmup, draws=draws, chains=chains,
                                 names=names)
    value = None
    if est_obj is not None:
        value = est_obj.value if isinstance(est_obj, Estimate) else est_obj
        overall = Posterior(**{**overall.__dict__, "estimate": value})
    if strata_est:
        strata = [Posterior(**{**p.__dict__, "estimate": strata_est.get(p.name)}) for p in strata]
    residual = residual_bits(est_obj, out.correct, out.samples) if est_obj is not None else None
    return CheckResult(model.name, value, overall, strata, residual, time.perf_counter() - t0,
                       {"samples": samples, "seed": seed, "warmup": warmup, "draws": draws, "chains": chains})
