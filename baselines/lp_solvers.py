"""The two LP solvers the optimisation baselines share, on a sparse standard form

    minimise c·z  subject to  A_eq z = b_eq,  A_ub z <= b_ub,  0 <= z <= upper.

HiGHS (SciPy's ``linprog``) runs in-process and is fast enough to re-solve every period; CBC
through PuLP is the issue's named solver for plans made once per episode.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np


class SparseLP(Protocol):
    c: np.ndarray
    A_eq: Any
    b_eq: np.ndarray
    A_ub: Any
    b_ub: np.ndarray
    upper: np.ndarray


def solve_highs(lp: SparseLP, name: str) -> tuple[np.ndarray, float]:
    """Optimal z and objective by HiGHS; RuntimeError naming ``name`` if not solved."""
    from scipy.optimize import linprog

    res = linprog(lp.c, A_ub=lp.A_ub, b_ub=lp.b_ub, A_eq=lp.A_eq, b_eq=lp.b_eq,
                  bounds=np.column_stack((np.zeros_like(lp.upper), lp.upper)), method="highs")
    if res.status != 0:
        raise RuntimeError(f"{name} not solved by HiGHS: {res.message}")
    return res.x, float(res.fun)


def solve_cbc(lp: SparseLP, name: str) -> tuple[np.ndarray, float]:
    """Optimal z and objective c·z by CBC through PuLP (``msg`` off)."""
    import pulp

    prob = pulp.LpProblem(name.replace(" ", "_"), pulp.LpMinimize)
    # PuLP >= 3.3 attaches variables to the model (add_variable); older PuLP builds them freely
    new_var = getattr(prob, "add_variable", None) or pulp.LpVariable
    z = [new_var(f"z{j}", lowBound=0, upBound=None if np.isinf(u) else float(u))
         for j, u in enumerate(lp.upper)]
    prob += pulp.LpAffineExpression([(z[j], float(v)) for j, v in enumerate(lp.c) if v != 0])
    for A, b, sense in ((lp.A_eq, lp.b_eq, pulp.LpConstraintEQ), (lp.A_ub, lp.b_ub, pulp.LpConstraintLE)):
        A = A.tocsr()
        for i in range(A.shape[0]):
            lo, hi = A.indptr[i], A.indptr[i + 1]
            expr = pulp.LpAffineExpression([(z[j], float(v)) for j, v in
                                            zip(A.indices[lo:hi], A.data[lo:hi])])
            prob += pulp.LpConstraint(expr, sense, rhs=float(b[i]))
    with warnings.catch_warnings():
        # PuLP 3.3 deprecates PULP_CBC_CMD in favour of a separately installed CBC (COIN_CMD),
        # but the bundled binary is the CBC every install of PuLP has
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False)
    status = prob.solve(solver)
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"{name} not solved by CBC: status {pulp.LpStatus[status]}")
    x = np.array([v.value() or 0.0 for v in z])
    return x, float(lp.c @ x)
