"""The deterministic flow LP of ``supply_chain/ThreeTier-v1`` and the three LP baselines.

Why an LP at all: the founding paper compares its MARL agents with a *static LP* plan; the
rolling (model-predictive) and hindsight (perfect-foresight) variants bracket it from the
closed-loop and the oracle side. All three share :func:`build_group_lp` and the executor
:class:`_Executor`; they differ only in the data fed to the LP (which demand, which state) and in
how often it is solved.

The model (one LP per manufacturer group)
-----------------------------------------
Products interact only through shared production capacity and shared storage. Every product has
exactly one manufacturer (``tasks/supply_chain/network.py``), so the network splits into one
*group* per manufacturer ``m`` (its products ``p in P_m``, the supplier of each, all retailers).
One LP is solved per group. Its quantities are in **group units** (days of the group's nominal
mean demand ``mu_m = sum_{p in P_m} mu_p``), so the LP needs only the observed product mix
``pi_p = mu_p / mu_m`` (the manufacturer's ``demand_share`` observation), never absolute volumes;
per-unit costs are unchanged (the objective is the plan's $ cost divided by ``mu_m``).

Index sets: days ``t = 0..H-1``, products ``p in P_m``, routes ``k`` (road, express), supplier
slices ``g`` (the group's products of one supplier). Decision and state variables, all ``>= 0``:
``ys[t,p]`` supplier production, ``Is`` supplier stock, ``xs[k,t,p]`` raw shipment (= raw order),
``Ir`` manufacturer raw stock, ``ym`` manufacturer production, ``If`` finished stock,
``xd[k,t,p]`` finished shipment to the retail tier (= retail orders), ``Iret`` retail stock
(all retailers pooled), ``lost`` lost sales, ``ovS[t,g], ovM[t], ovR[t]`` storage overflow,
``tm[j,p]`` terminal shortfall of tier ``j``, ``fl[j,t,p]`` safety-floor shortfall. Stocks are
end-of-day; the day's timing follows the env (suppliers at t+0.25, manufacturers at t+0.5,
customers at t+0.75). Planned integer delays from dispatch to use are
``ds_k = ceil(Ls_k - 0.25)`` (raw arrives before the manufacturer's production at t+0.5) and
``dd_k = ceil(Ld_k - 0.25)`` (finished goods arrive before the customers at t+0.75), where ``L``
are planning lead times (route means, or a quantile, see the policies); ``y = 1 - delta`` is
the planned yield after defects. With ``[t=0]`` the indicator of the first day:

    (E1) Is[t]   = Is[t-1] + ys[t] - sum_k xs[k,t]                             (Is[-1] = Is0)
    (E2) Ir[t]   = Ir[t-1] + y sum_k xs[k, t - ds_k] + pipeR[t] - ym[t]         (Ir[-1] = Ir0)
    (E3) If[t]   = If[t-1] + ym[t] - sum_k xd[k,t]                             (If[-1] = If0)
    (E4) Iret[t] = Iret[t-1] + sum_k xd[k, t - dd_k] + pipeF[t] - d[t] + lost[t]  (Iret[-1] = Iret0)
    (C1) sum_p ym[t,p]            <= capM[t]                 manufacturer capacity (shared)
    (C2) sum_{p in g} ys[t,p]     <= capS[t,g]               supplier capacity, slice g
    (C3) sum_{p in g} Is[t,p]     <= stoS[g] + ovS[t,g]      supplier storage, slice g
    (C4) sum_p (Ir + If)[t,p]     <= stoM + ovM[t]           manufacturer storage
    (C5) sum_p Iret[t,p]          <= stoR + ovR[t]           retail storage (pooled)
    (C6) sum_k xs[k,t,p] <= qmax_p,  sum_k xd[k,t,p] <= qmax_p   action bounds (2 days of mu_p)
    (T)  stock_j[H-1,p] + (in transit, arriving after H) + tm[j,p] >= target_j[p]
    (F)  stock_j[t,p] + fl[j,t,p] >= floor_j[t,p]            (optional soft safety stock)
         0 <= lost[t,p] <= d[t,p],  ys, ym <= qmax_p,  xs[k,t,p] = ys[t,p] = 0 while the slice's
         supplier is down (known to the oracle only)

    min  sum_t sum_p [ cS ys + hS Is + sum_k (tS_k + prem) xs_k + hR Ir + cM ym + hF If
                       + sum_k tD_k xd_k + hRet Iret + cLost lost ]
         + cOver sum_t (ovS + ovM + ovR) + cTerm sum tm + cFloor sum fl

with the env's costs (``tasks/supply_chain/specs/ThreeTier-v1.yaml``): production ``cS, cM``,
holding ``hS, hR, hF, hRet`` per unit and day on hand, transport ``tS_k, tD_k`` per unit
shipped, the negotiation premium ``prem = premium * raw value * nu`` per raw unit shipped, lost
sales ``cLost``. ``cOver`` is ten times the env's overflow rate (overflow is a constraint
violation, so the plan avoids it whenever it can); ``cTerm`` (= ``cLost``) makes the terminal
condition (T) hard in effect while keeping the LP feasible from any state.

What the LP approximates (and why)
----------------------------------
* **Retailers are pooled** per product (one retail stock, one demand = the sum over retailers):
  the LP fixes how much goes to the retail tier each day; the executor splits it between
  retailers (by their size for the open-loop static plan, by need for the closed-loop ones).
  Keeping retailers apart multiplies the LP by R (12 at ``paper``) for little gain: with no
  capacity at retail the per-retailer split of a pooled plan is exact up to the pooling of the
  first days' initial stock.
* **Supplier capacity and storage are split between groups** in proportion to the group's share
  of the supplier's mean demand (a supplier serves several manufacturers). Unused capacity of one
  group cannot help another; the capacity has 35 % slack so this binds only under shocks.
* **Deterministic lead times and yield**: each route's lead time is replaced by a planning
  value and the defect rate by its mean; the executor corrects the drift (see below).
* **Fixed ordering cost** ($ per order) is not in the LP (it would need binary variables); the
  plan orders every day, which costs ``order_cost`` per ordering node and upstream node and day.
* **Backlog costs** are not modelled: in a deterministic plan every order is shipped on the day
  (an open backlog only arises from the initial state, which the executor nets against orders).
* **Route choice per node**: the env applies one route split to all of a node's inbound
  shipments of a day; the LP plans per product and route, and the executor sets the node's split
  to the plan's aggregate express share that day.
* **Terminal condition (T)**: the episode is a window of a going business, so the plan must end
  with at least the env's initial stock at every tier (``initial_days`` of mean demand). Without
  it the optimal plan would liquidate all stock and stop producing before the end, which no real
  planner does and which would distort capacity utilisation and cost.

The executor (translation into the env's action encoding)
---------------------------------------------------------
Each day ``t`` the plan's quantities become actions in the env's "days of mean demand" units
(``quantity / (action_scale_days * pi_p)`` in group units): raw orders ``sum_k xs[k,t]``,
retail orders ``sum_k xd[k,t]`` (split between retailers), supplier and manufacturer
production, the route shares of the day, negotiation ``nu``. Production follows the plan's
*cumulative* target: a node that produced less than planned (raw late, defects, an outage) adds
the shortfall to later requests, within capacity; otherwise an early-day shortfall would be lost
for good. Orders need no such tracking: unfilled orders stay in the upstream backlog.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from scipy import sparse

from bench.policy import PolicyInfo
from tasks.supply_chain.network import Network, build_network, parse_agent

THREE_TIER = "supply_chain/ThreeTier-v1"
TIERS = ("supplier", "raw", "finished", "retail")     # stock tiers, order of tm / fl / targets
OVERFLOW_PENALTY_FACTOR = 10.0
ACTION_MARGIN = 0.999       # plans stay just inside action bounds and capacities


# ----------------------------------------------------------------------------------------------
# LP data and costs
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Costs:
    """Per-unit costs of the LP objective ($/unit or $/unit/day), read from the spec."""

    prod_s: float
    prod_m: float
    hold: tuple[float, float, float, float]          # supplier, raw, finished, retail
    transport_s: tuple[float, ...]                   # per route
    transport_d: tuple[float, ...]
    lost: float
    overflow: float
    premium: float = 0.0                             # negotiation premium per raw unit shipped
    terminal: float = 0.0                            # per unit short of the terminal targets
    floor: float = 0.0                               # per unit-day below a safety floor

    @classmethod
    def from_params(cls, params: Mapping[str, Any], nu: float = 0.0) -> "Costs":
        """The env's costs (spec ``parameters``) for negotiation level ``nu``."""
        hc = params["holding_cost"]
        lost = float(params["lost_sale_cost"])
        return cls(prod_s=float(params["production_cost"]["supplier"]),
                   prod_m=float(params["production_cost"]["manufacturer"]),
                   hold=(float(hc["supplier"]), float(hc["manufacturer_raw"]),
                         float(hc["manufacturer_finished"]), float(hc["retailer"])),
                   transport_s=tuple(float(r["cost_per_unit"]) for r in params["routes_supply"]),
                   transport_d=tuple(float(r["cost_per_unit"]) for r in params["routes_distribution"]),
                   lost=lost, overflow=OVERFLOW_PENALTY_FACTOR * float(params["overflow_cost"]),
                   premium=float(params["negotiation_premium"]) * float(params["unit_value"]["raw"]) * nu,
                   terminal=lost, floor=0.0)


@dataclass
class GroupData:
    """Everything one group LP needs, in group units (days of the group's mean demand).

    Shapes: ``n`` products, ``H`` days, ``K`` routes, ``G`` supplier slices. Arrays given per
    day may also be given as scalars/per-product and are broadcast by :func:`build_group_lp`.
    """

    demand: np.ndarray                    # (H, n) pooled retail demand
    slice_of: np.ndarray                  # (n,) supplier slice of each product, 0..G-1
    cap_m: np.ndarray                     # (H,) manufacturer capacity per day
    cap_s: np.ndarray                     # (H, G) supplier capacity per slice and day
    storage: tuple[np.ndarray, float, float]   # supplier (G,), manufacturer, retail
    init: np.ndarray                      # (4, n) stocks at the start: supplier, raw, fin, retail
    delay_s: np.ndarray                   # (H, K) planned raw delay (days) by dispatch day
    delay_d: np.ndarray                   # (H, K) planned finished delay (days) by dispatch day
    yield_: float                         # planned share of raw units that are not defective
    qmax: np.ndarray                      # (n,) bound on each day's order / production per product
    costs: Costs
    pipe_raw: np.ndarray | None = None    # (H, n) raw arrivals already in transit (after defects)
    pipe_fin: np.ndarray | None = None    # (H, n) finished arrivals already in transit
    terminal: np.ndarray | None = None    # (4, n) terminal targets (None: no terminal condition)
    floors: np.ndarray | None = None      # (4, H, n) soft safety floors (None: none)
    supplier_up: np.ndarray | None = None  # (H, G) bool: False while the slice's supplier is down

    @property
    def n(self) -> int:
        return self.demand.shape[1]

    @property
    def H(self) -> int:
        return self.demand.shape[0]

    @property
    def K(self) -> int:
        return self.delay_s.shape[1]

    @property
    def G(self) -> int:
        return self.cap_s.shape[1]


@dataclass
class GroupLP:
    """A group LP in matrix form, ``min c.z  s.t.  A_eq z = b_eq, A_ub z <= b_ub, lo <= z <= up``,
    with named variable blocks (``blocks[name] = (offset, shape)``)."""

    data: GroupData
    c: np.ndarray
    A_eq: sparse.csr_matrix
    b_eq: np.ndarray
    A_ub: sparse.csr_matrix
    b_ub: np.ndarray
    upper: np.ndarray
    blocks: dict[str, tuple[int, tuple[int, ...]]]

    def get(self, z: np.ndarray, name: str) -> np.ndarray:
        """Variable block ``name`` of solution ``z``, in its shape."""
        off, shape = self.blocks[name]
        return z[off:off + int(np.prod(shape))].reshape(shape)

    @property
    def n_vars(self) -> int:
        return len(self.c)


def build_group_lp(data: GroupData) -> GroupLP:
    """Assemble (E1)-(E4), (C1)-(C6), (T), (F) of the module docstring as sparse matrices.

    Vectorised with numpy (no Python loop over days or products), so that the rolling baseline
    can rebuild it cheaply.
    """
    n, H, K, G = data.n, data.H, data.K, data.G
    cs = data.costs
    blocks: dict[str, tuple[int, tuple[int, ...]]] = {}
    size = 0

    def block(name: str, shape: tuple[int, ...]) -> None:
        nonlocal size
        blocks[name] = (size, shape)
        size += int(np.prod(shape))

    for name, shape in (("ys", (H, n)), ("Is", (H, n)), ("xs", (K, H, n)), ("Ir", (H, n)),
                        ("ym", (H, n)), ("If", (H, n)), ("xd", (K, H, n)), ("Iret", (H, n)),
                        ("lost", (H, n)), ("ovS", (H, G)), ("ovM", (H,)), ("ovR", (H,))):
        block(name, shape)
    use_term = data.terminal is not None
    use_floor = data.floors is not None
    if use_term:
        block("tm", (4, n))
    if use_floor:
        block("fl", (4, H, n))

    def ix(name: str) -> np.ndarray:
        off, shape = blocks[name]
        return off + np.arange(int(np.prod(shape))).reshape(shape)

    v = {name: ix(name) for name in blocks}
    c = np.zeros(size)
    upper = np.full(size, np.inf)
    c[v["ys"]] = cs.prod_s
    c[v["Is"]] = cs.hold[0]
    c[v["Ir"]] = cs.hold[1]
    c[v["ym"]] = cs.prod_m
    c[v["If"]] = cs.hold[2]
    c[v["Iret"]] = cs.hold[3]
    c[v["lost"]] = cs.lost
    for k in range(K):
        c[v["xs"][k]] = cs.transport_s[k] + cs.premium
        c[v["xd"][k]] = cs.transport_d[k]
    for name in ("ovS", "ovM", "ovR"):
        c[v[name]] = cs.overflow
    if use_term:
        c[v["tm"]] = cs.terminal
    if use_floor:
        c[v["fl"]] = cs.floor
    demand = np.maximum(np.asarray(data.demand, dtype=float), 0.0)
    upper[v["lost"]] = demand
    qmax = np.broadcast_to(np.asarray(data.qmax, dtype=float), (n,))
    upper[v["ys"]] = qmax
    upper[v["ym"]] = qmax
    if data.supplier_up is not None:
        down = ~np.asarray(data.supplier_up, bool)[:, data.slice_of]          # (H, n)
        upper[v["ys"][down]] = 0.0
        for k in range(K):
            upper[v["xs"][k][down]] = 0.0

    # -- equality rows: one block of H*n rows per balance ---------------------------------------
    rows, cols, vals = [], [], []
    b_eq = np.zeros(4 * H * n)
    row = np.arange(H * n).reshape(H, n)

    def put(r: np.ndarray, col: np.ndarray, val: float | np.ndarray) -> None:
        r, col = np.broadcast_arrays(r, col)
        rows.append(r.ravel())
        cols.append(col.ravel())
        vals.append(np.broadcast_to(np.asarray(val, dtype=float), r.shape).ravel())

    def balance(k0: int, stock: str) -> np.ndarray:
        """Rows of balance block k0: +stock[t] - stock[t-1]; returns the row indices (H, n)."""
        r = k0 * H * n + row
        put(r, v[stock], 1.0)
        put(r[1:], v[stock][:-1], -1.0)
        return r

    def arrivals(r: np.ndarray, x: np.ndarray, delay: np.ndarray, coef: float) -> None:
        """-coef * x[k, tau] into row (tau + delay[tau, k]) when that day is inside the plan."""
        for k in range(K):
            arr = np.arange(H) + delay[:, k]
            ok = arr < H
            put(r[arr[ok]], x[k][ok], -coef)

    delay_s = np.asarray(data.delay_s, dtype=np.int64)
    delay_d = np.asarray(data.delay_d, dtype=np.int64)
    init = np.asarray(data.init, dtype=float)
    # (E1) supplier
    r1 = balance(0, "Is")
    put(r1, v["ys"], -1.0)
    for k in range(K):
        put(r1, v["xs"][k], 1.0)
    b_eq[r1[0]] += init[0]
    # (E2) raw
    r2 = balance(1, "Ir")
    arrivals(r2, v["xs"], delay_s, data.yield_)
    put(r2, v["ym"], 1.0)
    b_eq[r2[0]] += init[1]
    if data.pipe_raw is not None:
        b_eq[r2] += data.pipe_raw
    # (E3) finished
    r3 = balance(2, "If")
    put(r3, v["ym"], -1.0)
    for k in range(K):
        put(r3, v["xd"][k], 1.0)
    b_eq[r3[0]] += init[2]
    # (E4) retail
    r4 = balance(3, "Iret")
    arrivals(r4, v["xd"], delay_d, 1.0)
    put(r4, v["lost"], -1.0)
    b_eq[r4] -= demand
    b_eq[r4[0]] += init[3]
    if data.pipe_fin is not None:
        b_eq[r4] += data.pipe_fin
    A_eq = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(4 * H * n, size))

    # -- inequality rows ----------------------------------------------------------------------
    rows, cols, vals = [], [], []
    b_ub: list[np.ndarray] = []
    nrow = 0

    def new_rows(count: int, rhs: np.ndarray) -> np.ndarray:
        nonlocal nrow
        r = nrow + np.arange(count)
        nrow += count
        b_ub.append(np.broadcast_to(np.asarray(rhs, dtype=float), (count,)).copy())
        return r

    t_col = np.arange(H)[:, None]
    # (C1) manufacturer capacity
    r = new_rows(H, np.broadcast_to(data.cap_m, (H,)))
    put(np.repeat(r[:, None], n, 1), v["ym"], 1.0)
    # (C2) supplier capacity per slice; (C3) supplier storage per slice
    slice_row = data.slice_of[None, :] + G * t_col                         # (H, n) -> slice row
    r = new_rows(H * G, np.broadcast_to(data.cap_s, (H, G)).ravel())
    put(r[slice_row], v["ys"], 1.0)
    sto_s, sto_m, sto_r = data.storage
    r = new_rows(H * G, np.tile(np.broadcast_to(sto_s, (G,)), H))
    put(r[slice_row], v["Is"], 1.0)
    put(r, v["ovS"].ravel(), -1.0)
    # (C4) manufacturer storage, (C5) retail storage
    r = new_rows(H, np.full(H, sto_m))
    put(np.repeat(r[:, None], n, 1), v["Ir"], 1.0)
    put(np.repeat(r[:, None], n, 1), v["If"], 1.0)
    put(r, v["ovM"], -1.0)
    r = new_rows(H, np.full(H, sto_r))
    put(np.repeat(r[:, None], n, 1), v["Iret"], 1.0)
    put(r, v["ovR"], -1.0)
    # (C6) order bounds summed over routes
    for x in ("xs", "xd"):
        r = new_rows(H * n, np.tile(qmax, H)).reshape(H, n)
        for k in range(K):
            put(r, v[x][k], 1.0)
    # (T) terminal: -(stock + late arrivals + tm) <= -target
    if use_term:
        target = np.asarray(data.terminal, dtype=float)
        for j, stock in enumerate(("Is", "Ir", "If", "Iret")):
            r = new_rows(n, -target[j])
            put(r, v[stock][H - 1], -1.0)
            put(r, v["tm"][j], -1.0)
            if stock in ("Ir", "Iret"):
                x, delay, coef = (("xs", delay_s, data.yield_) if stock == "Ir"
                                  else ("xd", delay_d, 1.0))
                for k in range(K):
                    late = np.flatnonzero(np.arange(H) + delay[:, k] >= H)
                    put(np.repeat(r[None, :], len(late), 0), v[x][k][late], -coef)
    # (F) soft safety floors: -(stock[t] + fl[t]) <= -floor[t]
    if use_floor:
        floors = np.asarray(data.floors, dtype=float)
        for j, stock in enumerate(("Is", "Ir", "If", "Iret")):
            if not np.any(floors[j] > 0):
                upper[v["fl"][j]] = 0.0
                continue
            r = new_rows(H * n, -floors[j].ravel()).reshape(H, n)
            put(r, v[stock], -1.0)
            put(r, v["fl"][j], -1.0)
    A_ub = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(nrow, size))
    return GroupLP(data, c, A_eq, b_eq, A_ub, np.concatenate(b_ub), upper, blocks)


# ----------------------------------------------------------------------------------------------
# solvers
# ----------------------------------------------------------------------------------------------
def solve_highs(lp: GroupLP) -> tuple[np.ndarray, float]:
    """Solve with HiGHS (SciPy ``linprog``, in-process); returns (z, optimal objective)."""
    from scipy.optimize import linprog

    res = linprog(lp.c, A_ub=lp.A_ub, b_ub=lp.b_ub, A_eq=lp.A_eq, b_eq=lp.b_eq,
                  bounds=np.column_stack((np.zeros_like(lp.upper), lp.upper)), method="highs")
    if res.status != 0:
        raise RuntimeError(f"ThreeTier group LP not solved by HiGHS: {res.message}")
    return np.maximum(res.x, 0.0), float(res.fun)


def solve_cbc(lp: GroupLP) -> tuple[np.ndarray, float]:
    """Solve with CBC through PuLP (``msg`` off); returns (z, optimal objective)."""
    import pulp

    prob = pulp.LpProblem("three_tier_group", pulp.LpMinimize)
    new_var = getattr(prob, "add_variable", None) or pulp.LpVariable
    z = [new_var(f"z{j}", lowBound=0, upBound=None if np.isinf(u) else float(u))
         for j, u in enumerate(lp.upper)]
    prob += pulp.LpAffineExpression([(z[j], float(c)) for j, c in enumerate(lp.c) if c != 0])
    for A, b, sense in ((lp.A_eq, lp.b_eq, pulp.LpConstraintEQ),
                        (lp.A_ub, lp.b_ub, pulp.LpConstraintLE)):
        A = A.tocsr()
        for i in range(A.shape[0]):
            lo, hi = A.indptr[i], A.indptr[i + 1]
            expr = pulp.LpAffineExpression([(z[j], float(a)) for j, a in
                                            zip(A.indices[lo:hi], A.data[lo:hi])])
            prob += pulp.LpConstraint(expr, sense, rhs=float(b[i]))
    with warnings.catch_warnings():
        # PuLP 3.3 deprecates PULP_CBC_CMD in favour of a separately installed CBC; the bundled
        # binary is the CBC every PuLP install has
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False)
    status = prob.solve(solver)
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"ThreeTier group LP not solved by CBC: status {pulp.LpStatus[status]}")
    x = np.array([v.value() or 0.0 for v in z])
    return np.maximum(x, 0.0), float(lp.c @ x)


SOLVERS = {"highs": solve_highs, "cbc": solve_cbc}
