"""symest: mechanistic estimation of AlgZoo's tiny neural networks.

The Python API mirrors the command line::

    import symest
    model = symest.load("2nd_argmax_4_3")          # zoo name, handcrafted name or file path
    est = symest.estimate(model, "sampling", samples=1 << 20, seed=0)
    print(est.summary())
"""

from symest._errors import (
    BudgetError,
    CheckpointError,
    MethodError,
    ModelError,
    SymestError,
    TaskError,
)
from symest.checkpoints import read_model, write_model
from symest.estimate import Estimate
from symest.estimators import METHODS, estimate
from symest.forward import forward_numpy, outputs
from symest.handcrafted import handcrafted_2, handcrafted_3, handcrafted_10
from symest.model import Model, make_model
from symest.tasks import TASKS, Task, get_task
from symest.zoo import load, manifest

__all__ = [
    "METHODS",
    "TASKS",
    "BudgetError",
    "CheckpointError",
    "Estimate",
    "MethodError",
    "Model",
    "ModelError",
    "SymestError",
    "Task",
    "TaskError",
    "estimate",
    "forward_numpy",
    "get_task",
    "handcrafted_2",
    "handcrafted_3",
    "handcrafted_10",
    "load",
    "make_model",
    "manifest",
    "outputs",
    "read_model",
    "write_model",
]
__version__ = "0.1.0"
