r"""Derivations: estimates written as symbolic programs, with a surprise ledger.

A :class:`Derivation` is a list of steps run against a :class:`~symest.model.Model`. Running it
(:meth:`Derivation.run`) yields an :class:`~symest.estimate.Estimate` and a
:class:`~symest.ledger.Ledger`. Every claim is *data*: a SymPy expression over named weight
symbols (``W_hh[0, 1]`` is the symbol ``W_hh_0_1``, see :func:`w`) and input symbols ``x_0 ..
x_{n-1}``, so a saved ledger can be re-verified against other weights (:func:`symest.ledger.audit`).

Step kinds (bits are ARC's surprise accounting, see ``/work/shared/reference/estimation.md``):

``reparametrize(name, transform)``
    An exact change of weights that leaves the function unchanged: :class:`Rescale` (hidden
    neuron i scaled by a stated factor c_i > 0, which ReLU's positive homogeneity allows),
    :class:`Permute` (hidden neurons reordered), :class:`Standardize` (ARC's |W_hi[i]| = 1) or
    a :class:`Compose` of them. Verified by checking the kind (positive finite factors, a true
    permutation) *and* that outputs agree on a fixed probe batch. 0 bits. Later steps see the
    new weights. FLOPs: flopscope's cost of applying it.
``deduce(name, statement, assuming=...)``
    Algebra that holds without looking at the weights (given earlier checks, if ``assuming``):
    an identity ``Eq(lhs, rhs)`` (``expand``/``simplify``; piecewise-linear identities with
    ``Max``/``Min``/``Abs`` by exhaustive case analysis, see :func:`prove_identity`) or a strict
    sign ``expr > 0`` proved from the sign/magnitude facts of earlier checks (see
    :func:`prove_positive`). 0 bits, 0 FLOPs.
``check(name, claim, prior=None)``
    A claim about the weights, a SymPy relation: sign (``W > 0``), magnitude (``Abs(W) > 1``),
    ordering (``a > b``), agreement (:func:`agree`), exact value (``Eq(W, c)``) or ``And`` of
    these. Evaluated on the current weights in float64; bits ``-log2 P(claim)`` under the prior
    (:data:`PRIORS`; by default inferred from the claim's form: sign, magnitude and ordering 1
    bit, agreement to 2^-k k bits, exact value 32 bits, ``And`` the sum). FLOPs: flopscope's
    cost of evaluating the claim.
``split(name, branches)``
    A case split into regions of input space (:class:`Branch`: symbolic linear constraints over
    ``x_i``, whose coefficients may involve weights, or numeric cone normals). Each branch is a
    sub-derivation; contributions add. Where cheap, the branches are verified to partition the
    enclosing region: total Gaussian measure adds up and pairwise intersections have empty
    interior. 0 bits.
``presume(name, statement, value=None, uncertainty=0)``
    A stated approximation (independence, Gaussianity, a latent coupling) with the uncertainty
    it introduces. Contributes ``value`` (a number or a callable of the :class:`Context`) and
    makes the estimate ``approximate``. 0 bits.
``compute(name, what, kind="exact")``
    A leaf that yields a number: a SymPy expression over weights (re-evaluable by an audit), a
    :func:`measure` of a cone (symbolic constraints, billed by :mod:`symest.cones`), or a Python
    callable of the :class:`Context` returning a float, a :class:`~symest.cones.Measure` or a
    :class:`Computed`. Contributes ``coef * value`` unless ``contributes=False``.

The estimate is the sum of contributions; its kind is the weakest of its steps (exact <
numerical < approximate); its FLOPs the sum of step FLOPs; ``error_bound`` the sum of
numerical error bounds; ``stderr`` the root-sum-square of the presumptions' uncertainties.
"""

from symest.derivation._agree import Agree as Agree
from symest.derivation._agree import agree as agree
from symest.derivation._agree import agreement_bits as agreement_bits
from symest.derivation._errors import DerivationError as DerivationError
from symest.derivation._evaluate import evaluate as evaluate
from symest.derivation._evaluate import expr_flops as expr_flops
from symest.derivation._measure import PARTITION_MAX_BRANCHES as PARTITION_MAX_BRANCHES
from symest.derivation._measure import PARTITION_MAX_DIM as PARTITION_MAX_DIM
from symest.derivation._measure import Computed as Computed
from symest.derivation._measure import Context as Context
from symest.derivation._measure import Measure_ as Measure_
from symest.derivation._measure import cone_measure as cone_measure
from symest.derivation._measure import constraint_normals as constraint_normals
from symest.derivation._measure import measure as measure
from symest.derivation._pieces import linear_pieces as linear_pieces
from symest.derivation._pieces import network_outputs as network_outputs
from symest.derivation._pieces import piece_constraints as piece_constraints
from symest.derivation._pieces import piece_outputs as piece_outputs
from symest.derivation._priors import AGREEMENT as AGREEMENT
from symest.derivation._priors import AUTO as AUTO
from symest.derivation._priors import EXACT as EXACT
from symest.derivation._priors import EXACT_BITS as EXACT_BITS
from symest.derivation._priors import MAGNITUDE as MAGNITUDE
from symest.derivation._priors import ORDERING as ORDERING
from symest.derivation._priors import PRIORS as PRIORS
from symest.derivation._priors import SIGN as SIGN
from symest.derivation._priors import SMALL as SMALL
from symest.derivation._priors import Prior as Prior
from symest.derivation._priors import claim_form as claim_form
from symest.derivation._priors import prior_from_spec as prior_from_spec
from symest.derivation._priors import register_prior as register_prior
from symest.derivation._program import Branch as Branch
from symest.derivation._program import Derivation as Derivation
from symest.derivation._program import Step as Step
from symest.derivation._proofs import _one_line as _one_line
from symest.derivation._proofs import build_proof as build_proof
from symest.derivation._proofs import load_proof as load_proof
from symest.derivation._proofs import run_proof as run_proof
from symest.derivation._proofs import split_proof_name as split_proof_name
from symest.derivation._proving import _prove as _prove
from symest.derivation._proving import prove_identity as prove_identity
from symest.derivation._proving import prove_positive as prove_positive
from symest.derivation._reparam import Compose as Compose
from symest.derivation._reparam import Permute as Permute
from symest.derivation._reparam import Rescale as Rescale
from symest.derivation._reparam import Standardize as Standardize
from symest.derivation._reparam import apply_reparametrization as apply_reparametrization
from symest.derivation._reparam import transform_from_spec as transform_from_spec
from symest.derivation._runner import _Frozen as _Frozen
from symest.derivation._symbols import WEIGHT_NAMES as WEIGHT_NAMES
from symest.derivation._symbols import fingerprint as fingerprint
from symest.derivation._symbols import input_symbols as input_symbols
from symest.derivation._symbols import relu as relu
from symest.derivation._symbols import w as w
from symest.derivation._symbols import weight_symbols as weight_symbols
from symest.derivation._symbols import weight_values as weight_values
from symest.derivation._symbols import x as x
from symest.derivation._trees import expr_from_tree as expr_from_tree
from symest.derivation._trees import expr_to_tree as expr_to_tree

__all__ = [
    "PRIORS",
    "SMALL",
    "Agree",
    "Branch",
    "Compose",
    "Computed",
    "Context",
    "Derivation",
    "DerivationError",
    "Permute",
    "Prior",
    "Rescale",
    "Standardize",
    "agree",
    "agreement_bits",
    "apply_reparametrization",
    "constraint_normals",
    "expr_from_tree",
    "expr_to_tree",
    "input_symbols",
    "linear_pieces",
    "measure",
    "network_outputs",
    "piece_constraints",
    "piece_outputs",
    "prove_identity",
    "prove_positive",
    "register_prior",
    "relu",
    "run_proof",
    "split_proof_name",
    "w",
    "weight_symbols",
    "weight_values",
    "x",
]
