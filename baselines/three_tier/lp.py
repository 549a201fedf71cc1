"""The deterministic flow LP of ``supply_chain/ThreeTier-v1`` and the three LP baselines.

Why an LP at all: the founding paper compares its MARL agents with a *static LP* plan; the
rolling (model-predictive) and hindsight (perfect-foresight) variants bracket it from the
closed-loop and the oracle side. All three share :func:`build_group_lp` (the model),
:func:`solve_plan` (one LP per manufacturer group) and :class:`_Executor` (plan -> actions);
they differ in the data fed to the LP, how often it is solved and how the plan is executed.

The model (one LP per manufacturer group)
-----------------------------------------
Products interact only through shared production capacity and shared storage, and every
product has exactly one manufacturer (``tasks/supply_chain/network.py``), so the network splits
into one *group* per manufacturer ``m``: its products, their suppliers, all retailers. The LP
of a group works on **items** ``i``, each a set of the group's products pooled into one flow:
one item per supply lane (the products m buys from one supplier; the hindsight LP) or one item
for the whole group (static and rolling LPs, see below). Quantities are in **system units**,
days of the whole network's nominal mean demand ``sum_p mu_p`` (:class:`Context`), so the LP
needs only relative volumes, which the observations reveal exactly (:func:`observed_scales`).

Index sets: days ``t = 0..H-1``, items ``i``, routes ``k`` (road, express), supplier slices
``g`` (here: one per item). Variables, all ``>= 0``: ``ys[t,i]`` supplier production, ``Is``
supplier stock, ``xs[k,t,i]`` raw shipment (= raw order), ``Ir`` manufacturer raw stock, ``ym``
manufacturer production, ``If`` finished stock, ``xd[k,t,i]`` finished shipment to the retail
tier (= retail orders), ``Iret`` retail stock (all retailers pooled), ``lost`` lost sales,
``ovS[t,g], ovM[t], ovR[t]`` storage overflow, ``tm[j,i]`` terminal shortfall of stock tier
``j``, ``fl[j,t,i]`` safety-floor shortfall. Stocks are end-of-day; the day follows the env
(suppliers at t+0.25, manufacturers at t+0.5, customers at t+0.75). Planned integer delays from
dispatch to use are ``ds_k = ceil(Ls_k - 0.25)`` (raw must arrive before production at t+0.5)
and ``dd_k = ceil(Ld_k - 0.25)`` (finished goods before the customers at t+0.75), with planning
lead times ``L = route mean + kappa * route s.d.`` (:func:`planning_delays`); ``y = 1 - delta``
is the planned yield after the mean defect rate. ``[t=0]`` marks the first day:

    (E1) Is[t]   = Is[t-1] + ys[t] - sum_k xs[k,t]                               (Is[-1] = Is0)
    (E2) Ir[t]   = Ir[t-1] + y sum_k xs[k, t - ds_k] + pipeR[t] - ym[t]           (Ir[-1] = Ir0)
    (E3) If[t]   = If[t-1] + ym[t] - sum_k xd[k,t]                               (If[-1] = If0)
    (E4) Iret[t] = Iret[t-1] + sum_k xd[k, t - dd_k] + pipeF[t] - d[t] + lost[t]  (Iret[-1] = Iret0)
    (C1) sum_i ym[t,i]           <= capM[t]                 manufacturer capacity (shared)
    (C2) sum_{i in g} ys[t,i]    <= capS[t,g]               supplier capacity of slice g
    (C3) sum_{i in g} Is[t,i]    <= stoS[g] + ovS[t,g]      supplier storage of slice g
    (C4) sum_i (Ir + If)[t,i]    <= stoM + ovM[t]           manufacturer storage
    (C5) sum_i Iret[t,i]         <= stoR + ovR[t]           retail storage (pooled)
    (C6) sum_k xs[k,t,i] <= qmax_i,  sum_k xd[k,t,i] <= qmax_i,  ys, ym <= qmax_i
                                                           action bounds: 2 days of the item's mu
    (T)  stock_j[H-1,i] + (shipped, arriving after H) + tm[j,i] >= target_j[i]
    (F)  stock_j[t,i] + fl[j,t,i] >= floor_j[t,i]             (optional soft safety stock)
         0 <= lost[t,i] <= d[t,i];  ys = xs = 0 on days the slice's supplier is down

    min  sum_t sum_i [ cS ys + hS Is + sum_k (tS_k + prem) xs_k + hR Ir + cM ym + hF If
                       + sum_k tD_k xd_k + hRet Iret + cLost lost ]
         + cOver sum_t (ovS + ovM + ovR) + cTerm sum tm + cFloor sum fl

with the env's costs (spec ``parameters``): production ``cS = 1``, ``cM = 1.5``; holding ``hS,
hR, hF, hRet`` per unit and day on hand; transport ``tS_k, tD_k`` per unit shipped; negotiation
premium ``prem = premium * raw value * nu`` per raw unit shipped; lost sales ``cLost = 8``.
``cOver`` is ten times the env's overflow rate (overflow is a constraint violation, so the plan
avoids it whenever it can); ``cTerm = cLost`` makes (T) hard in effect while keeping the LP
feasible from any state; ``cFloor = 0.1`` (above every holding rate, far below a lost sale).
:func:`build_group_lp` assembles exactly these rows (vectorised, sparse); it is checked against
hand-computed optima in ``tests/supply_chain/test_three_tier_baselines.py``.

What the LP approximates (and why)
----------------------------------
A per-product, per-retailer daily LP over 182 days is ~20,000 variables per group at the
nominal scale and ~67,000 at ``paper`` (0.5 s and 1.9 s per group with HiGHS); the speed budget
(a full protocol of 80 episodes per policy in about a minute on 2 cores) rules that out, so:

* **Retailers are pooled** per item (one retail stock, one demand = the sum over retailers).
  With no capacity at retail, the pooled plan is what each retailer's own plan would sum to,
  except that pooled initial stock can cover another retailer's demand in the first days.
* **Products are pooled** per item. The hindsight LP uses one item per supply lane (2 to 6 per
  group), so supplier outages and per-supplier capacity stay exact; the static and rolling LPs
  pool the whole group (one item): their demand forecast is a flat rate per product, under which
  per-product plans are scaled copies of each other, and this keeps each solve at a few hundred
  variables (the rolling LP solves 26 times per episode). Pooled stock hides which product is
  short, so the executor gives each product its own share (below).
* **Supplier capacity and storage are split between groups** (and lanes) in proportion to mean
  demand: a supplier serving several manufacturers cannot lend unused capacity across groups;
  capacity has 35 % slack, so this binds only under shocks.
* **Deterministic lead times and yield**: every route's lead time is a planning value (mean +
  kappa s.d.) and the defect rate its mean; the executor absorbs the rest.
* **Fixed ordering cost** ($20 per order) is not in the LP (it needs binary variables); plans
  order every day. **Backlog costs** are not modelled: a deterministic plan ships every order
  the day it is placed (open backlogs at a re-plan are netted against the plan's orders).
* **Route choice per node**: the env applies one route split to all inbound shipments of a node
  and day; the executor sets it to the plan's express share of that day.
* **Terminal condition (T)**: the episode is a window of a going business, so a plan must end
  with at least the env's initial stock at every tier (``initial_days`` of mean demand). Without
  it the optimal plan liquidates all stock and stops producing before the end, which no planner
  does and which would distort capacity utilisation and cost.
* **Negotiation** is not optimised (it changes lead times and yield, which enter the LP as
  data): the LP policies use ``nu = 0``.

The executor (translation into the env's action encoding)
---------------------------------------------------------
Each day the plan's item quantities (raw orders ``sum_k xs``, retail orders ``sum_k xd``,
supplier and manufacturer production) are split between the item's products and converted to
the env's unit, ``quantity / (action_scale_days * rho_p)`` (retailers: ``/ (... * w_r rho_p)``):

* **open loop** (static LP): every split follows the products' forecast mix, retailers get
  shares in proportion to their size; the only feedback is that production never falls below
  what the node owes downstream (otherwise a late raw delivery would lose the production for
  good and backlogs would never clear). This is the paper's static plan: it does not react to
  demand.
* **closed loop** (rolling and hindsight): each product's and retailer's need (its shortfall
  below an order-up-to position: forecast or realised demand over the planned lead time, plus
  safety days for the rolling LP) is served first, the rest of the item's planned quantity by
  product mix, and no order falls below its need (pooled stock hides local needs). The
  manufacturer's production budget is the plan's, given to products by earliest due date of
  their coming call-offs (what must be made today so later peaks fit the daily action bound,
  then day by day), within raw stock and capacity.

Every split respects the daily action bound (2 days of the product's mean demand), passing
what does not fit to the item's other products, and production requests never exceed capacity
(no ``production_over_capacity`` violation).

Information used
----------------
* Static and rolling LPs use only the agents' observations, ``env.params`` and the layouts
  (the rolling LP uses all agents' observations at once: centralised control, paradigm
  ``optimization``). ``env.expected_demand()`` is *not* used: it includes the scenario's shift
  (e.g. the x1.6 demand shock from day 91) and its docstring declares it hindsight information.
* The hindsight LP (paradigm ``oracle``) reads the realised demand path (``env.demand_path``),
  the drawn mean demand ``mu`` and the scenario's shift (outage days, lead-time surge).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy import sparse

from baselines import lp_solvers
from bench.policy import PolicyInfo
from tasks.supply_chain.network import Network, build_network, parse_agent

THREE_TIER = "supply_chain/ThreeTier-v1"
THREE_TIER_IDS = (THREE_TIER, "supply_chain/ThreeTier-v2")   # same network, actions and observations
TIERS = ("supplier", "raw", "finished", "retail")     # stock tiers, order of tm / fl / targets
OVERFLOW_PENALTY_FACTOR = 10.0
ACTION_MARGIN = 0.999       # plans stay just inside action bounds and capacities
FLOOR_PENALTY = 0.1         # $/unit/day below a rolling-LP safety floor (above every holding cost)
REQ_DAYS = 14               # days of future call-offs that order production (earliest due first)


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
    x, obj = lp_solvers.solve_highs(lp, "ThreeTier group LP")
    return np.maximum(x, 0.0), obj


def solve_cbc(lp: GroupLP) -> tuple[np.ndarray, float]:
    """Solve with CBC through PuLP (``msg`` off); returns (z, optimal objective)."""
    x, obj = lp_solvers.solve_cbc(lp, "ThreeTier group LP")
    return np.maximum(x, 0.0), obj


SOLVERS = {"highs": solve_highs, "cbc": solve_cbc}


# ----------------------------------------------------------------------------------------------
# the network as the LP baselines see it: lanes, unit conversions, observed state
# ----------------------------------------------------------------------------------------------
@dataclass
class Context:
    """One episode's network in **system units** (days of the whole system's mean demand
    ``sum_p mu_p``), the unit every plan quantity is expressed in.

    ``rho[p] = mu_p / sum mu`` and ``w[r] = mu_rp / mu_p`` (a retailer's size share, the same for
    every product by construction of the demand model) convert the env's "days of the node's own
    mean demand" into system units: an upper-tier quantity ``x`` days of product p is
    ``x * rho[p]``, a retailer's ``x * w[r] * rho[p]``.
    """

    net: Network
    rho: np.ndarray
    w: np.ndarray
    lanes: tuple[np.ndarray, ...]          # products of each supply lane (supplier -> manufacturer)
    lane_m: np.ndarray                     # manufacturer of each lane
    lane_of: np.ndarray                    # (P,) lane of each product
    group_lanes: tuple[np.ndarray, ...]    # lanes of each manufacturer
    onehot: np.ndarray                     # (P, L) product -> lane incidence

    @classmethod
    def build(cls, net: Network, rho: np.ndarray, w: np.ndarray, pool_groups: bool = False) -> "Context":
        """Items of the LP: one per supply lane, or one per manufacturer group (``pool_groups``)."""
        if pool_groups:
            lanes = tuple(net.manufacturer_products)
            lane_m = np.arange(net.n_manufacturers, dtype=np.int64)
        else:
            lanes = tuple(link.products for link in net.supply_links)
            lane_m = np.array([link.downstream for link in net.supply_links], np.int64)
        lane_of = np.empty(net.n_products, np.int64)
        for k, prods in enumerate(lanes):
            lane_of[prods] = k
        groups = tuple(np.flatnonzero(lane_m == m) for m in range(net.n_manufacturers))
        onehot = np.zeros((net.n_products, len(lanes)))
        onehot[np.arange(net.n_products), lane_of] = 1.0
        return cls(net, np.asarray(rho, float), np.asarray(w, float), lanes, lane_m, lane_of, groups,
                   onehot)

    @property
    def n_lanes(self) -> int:
        return len(self.lanes)

    def lane_sum(self, x: np.ndarray) -> np.ndarray:
        """Sum a per-product array (..., P) over each lane -> (..., L)."""
        return np.asarray(x, float) @ self.onehot


def _net_of(env: Any) -> Network:
    p = env.params
    return build_network(int(p["n_suppliers"]), int(p["n_manufacturers"]), int(p["n_retailers"]),
                         int(p["n_products"]))


def observed_scales(env: Any, obs: Mapping[str, Any], net: Network) -> tuple[np.ndarray, np.ndarray]:
    """(rho, w) estimated from the first observation of an episode only (no env internals).

    * ``rho`` is exact: a supplier's ``demand_share`` gives ``mu_p / mu_s`` and a manufacturer's
      ``mu_p / mu_m``, so each product links the two nodes' volumes; walking the supplier-
      manufacturer graph from one node fixes every ``mu_p`` up to a common factor.
    * ``w`` comes from the day-0 forecasts. The forecaster is linear in its data and the upper
      tiers were warm-started on the summed retail history, so
      ``forecast_m[p] = sum_r w[r] forecast_r[r, p]`` for every product whose forecasts were not
      clipped at zero; a least-squares fit over products (dropping the worst-fitting half twice)
      recovers ``w`` to about 1 % (checked against the env in the tests). Falls back to equal
      shares if the fit is implausible.
    """
    S, M, R, P = net.n_suppliers, net.n_manufacturers, net.n_retailers, net.n_products
    lay = {a: env.observation_layout(a) for a in net.agents}
    sh_s, sh_m, fc_m = np.zeros(P), np.zeros(P), np.zeros(P)
    for s in range(S):
        a = f"supplier_{s}"
        sh_s[net.supplier_products[s]] = np.asarray(obs[a], float)[lay[a]["demand_share"]]
    for m in range(M):
        a = f"manufacturer_{m}"
        o = np.asarray(obs[a], float)
        sh_m[net.manufacturer_products[m]] = o[lay[a]["demand_share"]]
        fc_m[net.manufacturer_products[m]] = o[lay[a]["forecast"]]
    mu_s, mu_m = np.full(S, np.nan), np.full(M, np.nan)
    mu_s[0] = 1.0
    changed = True
    while changed:
        changed = False
        for p in range(P):
            s, m = net.product_supplier[p], net.product_manufacturer[p]
            if sh_s[p] <= 0 or sh_m[p] <= 0:
                continue
            if np.isnan(mu_m[m]) and not np.isnan(mu_s[s]):
                mu_m[m], changed = mu_s[s] * sh_s[p] / sh_m[p], True
            elif np.isnan(mu_s[s]) and not np.isnan(mu_m[m]):
                mu_s[s], changed = mu_m[m] * sh_m[p] / sh_s[p], True
    mu_m = np.where(np.isnan(mu_m), np.nanmean(mu_m), mu_m)
    mu = np.maximum(sh_m * mu_m[net.product_manufacturer], 1e-12)
    rho = mu / mu.sum()
    F = np.stack([np.asarray(obs[f"retailer_{r}"], float)[lay[f"retailer_{r}"]["forecast"]]
                  for r in range(R)], axis=1)                                   # (P, R)
    w = np.full(R, 1.0 / R)
    if R > 1 and P >= R + 2:
        keep = np.ones(P, bool)
        for _ in range(3):
            est = np.linalg.lstsq(F[keep], fc_m[keep], rcond=None)[0]
            res = np.abs(F @ est - fc_m)
            if keep.sum() // 2 < R + 2:
                break
            keep = res <= np.sort(res[keep])[keep.sum() // 2]
        if np.all(est > 0.2 / R) and np.all(est < 5.0 / R) and abs(est.sum() - 1.0) < 0.05:
            w = est / est.sum()
    return rho, w


def exact_scales(env: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """(rho, w, sum mu) read from the env's drawn demand model: oracle use only."""
    base = getattr(env, "unwrapped", env)
    mu_rp = np.asarray(base._mu_rp, float)                                       # (R, P)
    mu_p = mu_rp.sum(axis=0)
    return mu_p / mu_p.sum(), mu_rp[:, 0] / mu_p[0], float(mu_p.sum())


@dataclass
class Observed:
    """The observations of one day, every node and product, in the env's own units (days of the
    node's mean demand for that product). ``ret_*`` are (R, P); the others (P,)."""

    sup_stock: np.ndarray
    sup_owed: np.ndarray
    raw: np.ndarray
    raw_transit: np.ndarray
    fin: np.ndarray
    owed_m: np.ndarray
    ret_inv: np.ndarray
    ret_transit: np.ndarray
    ret_backlog: np.ndarray
    ret_fc: np.ndarray
    ret_last: np.ndarray
    day: int

    @classmethod
    def parse(cls, obs: Mapping[str, Any], net: Network, lay: Mapping[str, Mapping[str, slice]],
              horizon: int) -> "Observed":
        P, R = net.n_products, net.n_retailers
        z = lambda: np.zeros(P)  # noqa: E731
        sup_stock, sup_owed, raw, raw_tr, fin, owed = z(), z(), z(), z(), z(), z()
        ret = {k: np.zeros((R, P)) for k in ("inventory", "in_transit", "upstream_backlog",
                                             "forecast", "last_demand")}
        day = 0
        for a, o in obs.items():
            o = np.asarray(o, float)
            tier, i = parse_agent(a)
            L = lay[a]
            if tier == "supplier":
                pr = net.supplier_products[i]
                sup_stock[pr], sup_owed[pr] = o[L["stock"]], o[L["backlog_owed"]]
            elif tier == "manufacturer":
                pr = net.manufacturer_products[i]
                raw[pr], raw_tr[pr] = o[L["raw"]], o[L["raw_in_transit"]]
                fin[pr], owed[pr] = o[L["finished"]], o[L["backlog_owed"]]
            else:
                for k in ret:
                    ret[k][i] = o[L[k]]
            day = int(round(float(o[L["time"]][-1]) * horizon))
        return cls(sup_stock, sup_owed, raw, raw_tr, fin, owed, ret["inventory"], ret["in_transit"],
                   ret["upstream_backlog"], ret["forecast"], ret["last_demand"], day)


def planning_delays(params: Mapping[str, Any], H: int, nu: float, kappa: float,
                    surge: tuple[int, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Planned integer delays (H, K) from dispatch to use, for supply and distribution routes.

    Planning lead time = route mean + ``kappa`` s.d. (negotiation ``nu`` shortens supply lead
    times as in the env); ``surge = (first plan day of the surge, factor)`` multiplies the lead
    times of shipments dispatched from then on (the oracle's knowledge of ``lead_time_surge``).
    Supply: dispatched at t+0.25, used by production at t'+0.5; distribution: dispatched at
    t+0.5, sold at t'+0.75; both give ``ceil(L - 0.25)``.
    """
    out = []
    for key, cut_mean, cut_sd in (("routes_supply", float(params["negotiation_lead_mean_cut"]) * nu,
                                   float(params["negotiation_lead_sd_cut"]) * nu),
                                  ("routes_distribution", 0.0, 0.0)):
        lead = np.array([float(r["lead_time_mean"]) * (1 - cut_mean)
                         + kappa * float(r["lead_time_sd"]) * (1 - cut_sd) for r in params[key]])
        lead = np.maximum(lead, float(params["min_lead_time"]))
        L = np.tile(lead, (H, 1))
        if surge is not None:
            L[max(surge[0], 0):] *= surge[1]
        out.append(np.maximum(np.ceil(L - 0.25 - 1e-9), 0).astype(np.int64))
    return out[0], out[1]


@dataclass
class Plan:
    """Lane-level plan (system units), row 0 = episode day ``start``: ``ys, ym`` (H, L),
    ``xs, xd`` (K, H, L); ``cost`` the LP optimum (system units x $)."""

    start: int
    ys: np.ndarray
    ym: np.ndarray
    xs: np.ndarray
    xd: np.ndarray
    cost: float

    def row(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k = day - self.start
        if not 0 <= k < self.ys.shape[0]:
            L, K = self.ys.shape[1], self.xs.shape[0]
            return np.zeros(L), np.zeros(L), np.zeros((K, L)), np.zeros((K, L))
        return self.ys[k], self.ym[k], self.xs[:, k], self.xd[:, k]


@dataclass
class PlanInputs:
    """Lane-level inputs of one planning problem (system units). ``demand`` (H, L); ``init``
    (4, L) stocks available at the start; optional pipelines (H, L), terminal targets (4, L),
    floors (4, H, L), supplier availability per lane (H, L)."""

    demand: np.ndarray
    init: np.ndarray
    delay_s: np.ndarray
    delay_d: np.ndarray
    yield_: float
    costs: Costs
    pipe_raw: np.ndarray | None = None
    pipe_fin: np.ndarray | None = None
    terminal: np.ndarray | None = None
    floors: np.ndarray | None = None
    supplier_up: np.ndarray | None = None


def solve_plan(ctx: Context, params: Mapping[str, Any], inp: PlanInputs, start: int,
               solver: str = "highs") -> Plan:
    """Solve one LP per manufacturer group over its lanes and stitch the lane plan together."""
    H, L = inp.demand.shape
    K = inp.delay_s.shape[1]
    lane_mu = ctx.lane_sum(ctx.rho)                                              # (L,)
    cf, sd = params["capacity_factor"], params["storage_days"]
    scale = float(params["action_scale_days"])
    plan = Plan(start, np.zeros((H, L)), np.zeros((H, L)), np.zeros((K, H, L)), np.zeros((K, H, L)), 0.0)
    for lanes in ctx.group_lanes:
        mu_g = float(lane_mu[lanes].sum())
        n = len(lanes)
        sel = lambda a: None if a is None else a[..., lanes]  # noqa: E731
        data = GroupData(
            demand=inp.demand[:, lanes], slice_of=np.arange(n),
            cap_m=np.full(H, float(cf["manufacturer"]) * mu_g * ACTION_MARGIN),
            cap_s=np.tile(float(cf["supplier"]) * lane_mu[lanes] * ACTION_MARGIN, (H, 1)),
            storage=(float(sd["supplier"]) * lane_mu[lanes], float(sd["manufacturer"]) * mu_g,
                     float(sd["retailer"]) * mu_g),
            init=inp.init[:, lanes], delay_s=inp.delay_s, delay_d=inp.delay_d, yield_=inp.yield_,
            qmax=scale * lane_mu[lanes] * ACTION_MARGIN, costs=inp.costs,
            pipe_raw=sel(inp.pipe_raw), pipe_fin=sel(inp.pipe_fin), terminal=sel(inp.terminal),
            floors=sel(inp.floors), supplier_up=sel(inp.supplier_up))
        lp = build_group_lp(data)
        z, obj = SOLVERS[solver](lp)
        plan.ys[:, lanes], plan.ym[:, lanes] = lp.get(z, "ys"), lp.get(z, "ym")
        plan.xs[:, :, lanes], plan.xd[:, :, lanes] = lp.get(z, "xs"), lp.get(z, "xd")
        plan.cost += obj
    return plan


# ----------------------------------------------------------------------------------------------
# the executor: a lane plan -> the env's actions, one day at a time
# ----------------------------------------------------------------------------------------------
@dataclass
class Targets:
    """Closed-loop allocation signals of one day (``None`` = open loop, split by ``share``).

    ``retail`` (R, P): order-up-to position of each retailer and product (own days);
    ``rate`` (P,): expected demand per day in system units, used for the upper tiers' needs;
    ``req`` (J, P): the finished goods the retail tier is expected to call off on each of the
    next J days (system units), which orders production by earliest due date."""

    retail: np.ndarray
    rate: np.ndarray
    req: np.ndarray


class _Executor:
    """Turns the plan's lane quantities of a day into every agent's action vector.

    Lane totals are the plan's; within a lane they are split between products (and retailers)
    in proportion to ``share`` (open loop) or to each product's need, i.e. its shortfall below an
    order-up-to position (closed loop). Production requests are never below what the node owes
    downstream (catch-up of open orders), and are scaled down to capacity.
    """

    def __init__(self, env: Any, ctx: Context, nu: float, finished_days: int = 1,
                 raw_days: int = 5, unit: np.ndarray | None = None) -> None:
        p = env.params
        self.ctx, self.net = ctx, ctx.net
        self.lay_a = {a: env.action_layout(a) for a in ctx.net.agents}
        self.n_act = {a: max(s.stop for s in lay.values()) for a, lay in self.lay_a.items()}
        self.scale = float(p["action_scale_days"])
        self.cap = {t: float(p["capacity_factor"][t]) * ACTION_MARGIN for t in ("supplier", "manufacturer")}
        self.yield_ = 1.0 - float(p["defect_mean"]) * (1.0 - float(p["negotiation_defect_cut"]) * nu)
        self.nu = nu
        self.finished_days, self.raw_days = int(finished_days), int(raw_days)
        self.unit = np.zeros(ctx.net.n_products) if unit is None else np.asarray(unit, float)
        self.credit_d = np.zeros(ctx.n_lanes)     # uncovered backlogs netted against orders
        self.credit_s = np.zeros(ctx.n_lanes)

    def _alloc(self, total: np.ndarray, need: np.ndarray, share: np.ndarray) -> np.ndarray:
        """Split lane totals (L,) between the lane's products: first each product's ``need``
        (scaled down together if the lane total is smaller), then the rest in proportion to
        ``share``; no product gets more than one day's action bound (2 days of its mean
        demand), what does not fit goes to the lane's other products."""
        ctx, lane = self.ctx, self.ctx.lane_of
        cap = self.scale * ctx.rho * ACTION_MARGIN
        total = np.maximum(total, 0.0)
        need = np.minimum(np.maximum(need, 0.0), cap)
        need_l = ctx.lane_sum(need)
        f = np.where(need_l > 1e-300, np.minimum(1.0, total / np.maximum(need_l, 1e-300)), 0.0)
        q = need * f[lane]
        rest = np.maximum(total - ctx.lane_sum(q), 0.0)
        for _ in range(4):
            room = np.maximum(cap - q, 0.0)
            wgt = share * (room > 1e-15)
            wl = ctx.lane_sum(wgt)
            add = np.minimum(rest[lane] * wgt / np.maximum(wl[lane], 1e-300), room)
            q += add
            rest = np.maximum(rest - ctx.lane_sum(add), 0.0)
            if rest.max(initial=0.0) <= 1e-12:
                break
        return q

    @staticmethod
    def _net(total: np.ndarray, credit: np.ndarray) -> np.ndarray:
        used = np.minimum(total, credit)
        credit -= used
        return total - used

    def _edd_production(self, ym_l: np.ndarray, due: np.ndarray, req: np.ndarray,
                        raw: np.ndarray, share: np.ndarray) -> np.ndarray:
        """Closed-loop production: each manufacturer produces the plan's quantity for its group
        (at least what it owes today), given to products by earliest due date: first every
        product's shortfall today (``due``, system units), then its call-offs of the following
        days (``req``), day by day, until the budget is spent. Capped by raw stock on hand,
        the action bound and capacity."""
        ctx, net, rho = self.ctx, self.net, self.ctx.rho
        # cumulative requirement beyond stock, day by day: (J+1, P)
        cum = np.maximum(np.vstack([due, due + np.cumsum(req, axis=0)]), 0.0)
        bound = self.scale * rho * ACTION_MARGIN
        limit = np.minimum(raw, bound)
        # what must be made today so that later call-offs can still be met at <= bound a day
        must = np.max(cum - np.arange(len(cum))[:, None] * bound[None, :], axis=0)
        must = np.clip(must, 0.0, limit)
        rest = np.clip(cum - must[None, :], 0.0, (limit - must)[None, :])
        prod = must.copy()
        for m in range(net.n_manufacturers):
            pr = net.manufacturer_products[m]
            cap = self.cap["manufacturer"] * rho[pr].sum()
            if prod[pr].sum() > cap:
                prod[pr] *= cap / prod[pr].sum()
                continue
            ahead = float(cum[min(self.finished_days, len(cum) - 1), pr].sum())
            budget = min(max(float(ym_l[ctx.group_lanes[m]].sum()), ahead), cap)
            budget -= float(prod[pr].sum())
            if budget <= 0:
                continue
            tot = rest[:, pr].sum(axis=1)                                       # (J+1,)
            j = int(np.searchsorted(tot, budget, side="right")) - 1             # last day fully met
            if j < 0:
                prod[pr] += rest[0, pr] * (budget / max(tot[0], 1e-300))
            elif j >= len(tot) - 1:
                # every known call-off is covered: the rest of the plan's quantity (e.g. the
                # terminal stock) goes by the plan's lane split and product mix
                prod[pr] += rest[-1, pr]
                extra = budget - float(tot[-1])
                room = np.maximum(limit[pr] - prod[pr], 0.0)
                lane_q = ym_l[ctx.lane_of[pr]] * share[pr] / np.maximum(
                    ctx.lane_sum(share)[ctx.lane_of[pr]], 1e-300)
                if lane_q.sum() > 1e-12:
                    prod[pr] += np.minimum(room, extra * lane_q / lane_q.sum())
            else:
                step = rest[j + 1, pr] - rest[j, pr]
                prod[pr] += rest[j, pr] + step * ((budget - tot[j]) / max(step.sum(), 1e-300))
        return prod

    def act(self, plan: Plan, ob: Observed, share: np.ndarray,
            targets: Targets | None) -> dict[str, np.ndarray]:
        ctx, net = self.ctx, self.net
        rho, w = ctx.rho, ctx.w
        R, P, K = net.n_retailers, net.n_products, plan.xs.shape[0]
        ys_l, ym_l, xs_l, xd_l = plan.row(ob.day)
        wr = w[:, None] * rho[None, :]                                   # (R, P) retail own-day -> sys
        # -- retail orders -------------------------------------------------------------------
        qd = self._net(xd_l.sum(axis=0), self.credit_d)
        if targets is None:
            q_p = self._alloc(qd, np.zeros_like(share), share)
            orders = np.tile(q_p / rho, (R, 1))                          # size-proportional split
        else:
            # closed loop: each retailer orders up to its target position; the plan's lane
            # totals are a floor (its prebuilds), not a cap (pooled stock hides local needs)
            pos = ob.ret_inv + ob.ret_transit + ob.ret_backlog
            need = np.maximum(targets.retail - pos, 0.0)                 # own days
            need_p = (need * wr).sum(axis=0)
            q_p = np.maximum(self._alloc(qd, need_p, share), need_p)
            ratio = q_p / np.maximum(need_p, 1e-300)
            orders = np.where(need_p[None, :] > 1e-12, need * ratio[None, :], (q_p / rho)[None, :])
        orders_sys = (orders * wr).sum(axis=0)
        exp_d = xd_l[1:].sum() / max(xd_l.sum(), 1e-12)
        route_d = np.zeros(K)
        route_d[0] = 1.0 - exp_d
        route_d[1:] = xd_l[1:].sum(axis=1) / max(xd_l.sum(), 1e-12)
        if xd_l.sum() <= 1e-12:
            route_d[:] = 0.0
            route_d[0] = 1.0
        # -- manufacturer production ---------------------------------------------------------
        fin, owed, raw = ob.fin * rho, ob.owed_m * rho, ob.raw * rho
        due = owed + orders_sys
        if targets is None:
            prod = np.maximum(self._alloc(ym_l, np.zeros_like(share), share), due - fin)
            prod = np.maximum(np.minimum(prod, raw), 0.0)
            for m in range(net.n_manufacturers):
                pr = net.manufacturer_products[m]
                cap = self.cap["manufacturer"] * rho[pr].sum()
                tot = prod[pr].sum()
                if tot > cap:
                    prod[pr] *= cap / tot
        else:
            prod = self._edd_production(ym_l, due - fin + 0.6 * self.unit, targets.req, raw, share)
        # -- raw orders ----------------------------------------------------------------------
        qs = self._net(xs_l.sum(axis=0), self.credit_s)
        if targets is None:
            raw_order = self._alloc(qs, np.zeros_like(share), share)
        else:
            pos_r = (ob.raw + ob.raw_transit + ob.sup_owed) * rho
            upcoming = np.maximum(due - fin, 0.0) + targets.req[:self.raw_days].sum(axis=0)
            need_r = np.maximum(upcoming / self.yield_ - pos_r, 0.0)
            raw_order = np.maximum(self._alloc(qs, need_r, share), need_r)
        # -- supplier production -------------------------------------------------------------
        stock, owed_s = ob.sup_stock * rho, ob.sup_owed * rho
        due_s = owed_s + raw_order
        if targets is None:
            sprod = self._alloc(ys_l, np.zeros_like(share), share)
        else:
            sprod = self._alloc(ys_l, np.maximum(due_s - stock, 0.0), share)
        sprod = np.maximum(sprod, due_s - stock)
        sprod = np.maximum(sprod, 0.0)
        for s in range(net.n_suppliers):
            pr = net.supplier_products[s]
            cap = self.cap["supplier"] * rho[pr].sum()
            tot = sprod[pr].sum()
            if tot > cap:
                sprod[pr] *= cap / tot
        # -- actions -------------------------------------------------------------------------
        out: dict[str, np.ndarray] = {}
        sc = self.scale
        for a in net.agents:
            tier, i = parse_agent(a)
            lay = self.lay_a[a]
            act = np.zeros(self.n_act[a])
            if tier == "supplier":
                pr = net.supplier_products[i]
                act[lay["production"]] = sprod[pr] / rho[pr] / sc
            elif tier == "manufacturer":
                pr = net.manufacturer_products[i]
                act[lay["production"]] = prod[pr] / rho[pr] / sc
                act[lay["raw_order"]] = raw_order[pr] / rho[pr] / sc
                lanes = ctx.group_lanes[i]
                tot = xs_l[:, lanes].sum()
                if tot > 1e-12:
                    act[lay["route"]] = xs_l[:, lanes].sum(axis=1) / tot
                else:
                    act[lay["route"].start] = 1.0
                act[lay["negotiation"]] = self.nu
            else:
                act[lay["order"]] = orders[i] / sc
                act[lay["route"]] = route_d
            out[a] = np.clip(act, 0.0, 1.0).astype(np.float32)
        return out


# ----------------------------------------------------------------------------------------------
# the three LP policies
# ----------------------------------------------------------------------------------------------
def _init_stocks(ob: Observed, ctx: Context) -> np.ndarray:
    """(4, L) stocks on hand per lane in system units: supplier, raw, finished, retail."""
    rho, w = ctx.rho, ctx.w
    per_p = np.stack([ob.sup_stock * rho, ob.raw * rho, ob.fin * rho,
                      (ob.ret_inv * w[:, None]).sum(axis=0) * rho])
    return ctx.lane_sum(per_p)


def _tier_days(params: Mapping[str, Any]) -> np.ndarray:
    """The env's initial stock per tier in days of mean demand (the terminal targets)."""
    d = params["initial_days"]
    return np.array([float(d["supplier"]), float(d["manufacturer_raw"]),
                     float(d["manufacturer_finished"]), float(d["retailer"])])


class _LPPolicy:
    """Shared plumbing: layouts, the network, timing of solves."""

    info: PolicyInfo
    tasks = THREE_TIER_IDS

    def __init__(self, env: Any, *, nu: float, kappa: float, solver: str) -> None:
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
        if not 0.0 <= nu <= 1.0:
            raise ValueError(f"negotiation level nu must lie in [0, 1], got {nu!r}")
        self.env = env
        self.params = env.params
        self.net = _net_of(env)
        self.horizon = int(env.horizon)
        self.lay_o = {a: env.observation_layout(a) for a in self.net.agents}
        self.nu, self.kappa, self.solver = float(nu), float(kappa), solver
        self.yield_ = 1.0 - float(self.params["defect_mean"]) * (
            1.0 - float(self.params["negotiation_defect_cut"]) * self.nu)
        self.costs = Costs.from_params(self.params, self.nu)
        self.solve_times: list[float] = []
        self.plan: Plan | None = None
        self.planned_cost = float("nan")

    def reset(self, seed: int) -> None:
        """Forget the previous episode's plan (the policy itself is deterministic)."""
        self.plan = None
        self.ctx: Context | None = None

    def _observe(self, observations: Mapping[str, Any]) -> Observed:
        return Observed.parse(observations, self.net, self.lay_o, self.horizon)

    def _solve(self, ctx: Context, inp: PlanInputs, start: int) -> Plan:
        t0 = time.perf_counter()
        plan = solve_plan(ctx, self.params, inp, start, self.solver)
        self.solve_times.append(time.perf_counter() - t0)
        return plan


class ThreeTierStaticLP(_LPPolicy):
    """The founding paper's static LP: one plan at day 0, then executed open-loop.

    Demand is each product's day-0 forecast observation (a 7-day mean, so a flat rate for the
    whole episode); lead times are the route means (``kappa = 0``); the group's products are
    pooled into one item; CBC through PuLP solves it (``solver="highs"`` is the fast
    alternative). The plan's orders and production are then played whatever demand does (see
    "open loop" in the module docstring): the gap to ``lp_rolling`` is the value of re-planning.
    ``planned_cost`` is the LP optimum in $ per unit of the system's mean daily demand (the
    policy never learns absolute volumes)."""

    info = PolicyInfo(name="lp_static", version="1", paradigm="optimization",
                      description="ThreeTier: one deterministic network LP per manufacturer group "
                                  "(its products pooled) over the episode from the day-0 "
                                  "forecasts (CBC via PuLP), executed open-loop.")

    def __init__(self, env: Any, nu: float = 0.0, kappa: float = 0.0, solver: str = "cbc") -> None:
        super().__init__(env, nu=nu, kappa=kappa, solver=solver)

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Plan at the first call of an episode, then play the plan's day."""
        ob = self._observe(observations)
        if self.plan is None:
            rho, w = observed_scales(self.env, observations, self.net)
            ctx = self.ctx = Context.build(self.net, rho, w, pool_groups=True)
            H = self.horizon - ob.day
            # the forecast observation is a 7-day mean: a flat demand rate per product
            self.share = (ob.ret_fc * w[:, None]).sum(axis=0) * rho
            ds, dd = planning_delays(self.params, H, self.nu, self.kappa)
            lane_mu = ctx.lane_sum(rho)
            inp = PlanInputs(demand=np.tile(ctx.lane_sum(self.share), (H, 1)),
                             init=_init_stocks(ob, ctx), delay_s=ds, delay_d=dd, yield_=self.yield_,
                             costs=self.costs, terminal=_tier_days(self.params)[:, None] * lane_mu)
            self.plan = self._solve(ctx, inp, ob.day)
            self.planned_cost = self.plan.cost
            self.executor = _Executor(self.env, ctx, self.nu)
        return self.executor.act(self.plan, ob, self.share, None)


class ThreeTierHindsightLP(_LPPolicy):
    """Oracle: the same LP over the whole episode with the realised demand path, the realised
    shift (outage days, lead-time surge) and the exact demand scales; one item per supply lane;
    executed closed-loop with the realised demand as order-up-to targets.

    Lead times cannot be foreseen (they are drawn at dispatch), so the plan uses mean + ``kappa``
    s.d. with ``kappa = 3``: the Pearson IV lead times are right-skewed, and a shipment later than
    planned costs lost sales at 8 $/unit against 0.03 $/unit/day for arriving early. ``kappa`` was
    chosen on training seeds 0-3 from {1.5, 2, 2.5, 3, 4} (mean V 0.950, 0.950, 0.953, 0.990,
    0.989 with the measured anchors). ``planned_cost`` is the LP optimum in $."""

    info = PolicyInfo(name="lp_hindsight", version="1", paradigm="oracle",
                      description="ThreeTier: perfect-foresight network LP (realised demand path "
                                  "and shift, read from the env) solved once per episode, "
                                  "products pooled per supply lane; an upper bound, not "
                                  "deployable.")

    def __init__(self, env: Any, nu: float = 0.0, kappa: float = 3.0, solver: str = "highs") -> None:
        super().__init__(env, nu=nu, kappa=kappa, solver=solver)

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        ob = self._observe(observations)
        base = getattr(self.env, "unwrapped", self.env)
        if self.plan is None:
            rho, w, mu_tot = exact_scales(base)
            ctx = self.ctx = Context.build(self.net, rho, w)
            self.mu_rp = mu_tot * w[:, None] * rho[None, :]
            self.demand = np.asarray(base.demand_path, float)                       # (T, R, P)
            T = len(self.demand)
            H = T - ob.day
            d_sys = self.demand[ob.day:].sum(axis=1) / mu_tot                         # (H, P)
            shift = getattr(base, "shift", None)
            surge = supplier_up = None
            if shift is not None and shift.kind == "lead_time_surge":
                surge = (shift.onset - ob.day, shift.factor)
            if shift is not None and shift.kind == "supplier_outage":
                supplier_up = np.ones((H, ctx.n_lanes), bool)
                days = np.arange(ob.day, T)
                down = (days >= shift.onset) & (days < shift.end)
                lanes = [k for k, link in enumerate(self.net.supply_links) if link.upstream == shift.supplier]
                supplier_up[np.ix_(down, lanes)] = False
            ds, dd = planning_delays(self.params, H, self.nu, self.kappa, surge)
            self.dd = dd
            lane_mu = ctx.lane_sum(rho)
            inp = PlanInputs(demand=ctx.lane_sum(d_sys), init=_init_stocks(ob, ctx), delay_s=ds,
                             delay_d=dd, yield_=self.yield_, costs=self.costs,
                             terminal=_tier_days(self.params)[:, None] * lane_mu,
                             supplier_up=supplier_up)
            self.plan = self._solve(ctx, inp, ob.day)
            self.planned_cost = self.plan.cost * mu_tot
            self.share = d_sys.mean(axis=0)
            self.executor = _Executor(self.env, ctx, self.nu, raw_days=int(ds[0, 0]) + 2,
                                      unit=np.full(self.net.n_products, 1.0 / mu_tot))
        t, T = ob.day, len(self.demand)
        D = int(self.dd[min(t - self.plan.start, len(self.dd) - 1), 0])
        window = self.demand[t:min(t + D + 1, T)]
        # order-up-to position: demand until this order arrives, raised where a later peak
        # cannot be ordered in time because one day's order is bounded (action <= 1)
        ahead = np.cumsum(self.demand[t:min(t + D + 1 + REQ_DAYS, T)], axis=0) / self.mu_rp
        j = np.arange(len(ahead)) - D
        bound = self.executor.scale * ACTION_MARGIN
        retail = np.max(ahead[D:] - np.maximum(j[D:], 0)[:, None, None] * bound, axis=0) \
            if len(ahead) > D else ahead[-1]
        mu_tot = self.mu_rp.sum()
        rate = window.sum(axis=1).mean(axis=0) / mu_tot if len(window) else self.share
        # call-offs of the next days: the demand entering the retailers' order-up-to window
        req = self.demand[min(t + D + 1, T):min(t + D + 1 + REQ_DAYS, T)].sum(axis=1) / mu_tot
        return self.executor.act(self.plan, ob, self.share, Targets(retail, rate, req))


class _WeekdayProfile:
    """Observation-only estimate of each product's weekday demand profile (a factor per
    weekday, mean 1): an EWMA of yesterday's demand over yesterday's 7-day-mean forecast, both
    from the retailers' observations. The forecast observation is a weekly mean, so without this
    a plan would be flat within the week."""

    def __init__(self, n_products: int, start_day: int, smoothing: float = 0.15) -> None:
        self.f = np.ones((7, n_products))
        self.start_day, self.a = start_day, smoothing
        self.prev_fc: np.ndarray | None = None

    def update(self, day: int, last_demand: np.ndarray, forecast: np.ndarray) -> None:
        """``last_demand`` and ``forecast`` (P,) in system units, observed at the start of ``day``."""
        if self.prev_fc is not None and day >= 1:
            wd = (self.start_day + day - 1) % 7
            ok = self.prev_fc > 1e-9
            ratio = np.where(ok, last_demand / np.maximum(self.prev_fc, 1e-300), 1.0)
            self.f[wd, ok] += self.a * (np.clip(ratio[ok], 0.0, 5.0) - self.f[wd, ok])
            self.f /= self.f.mean(axis=0, keepdims=True)
        self.prev_fc = forecast.copy()

    def factors(self, days: np.ndarray) -> np.ndarray:
        """(len(days), P) factors of the given episode days."""
        return self.f[(self.start_day + np.asarray(days)) % 7]


def _tuned_rolling() -> dict[str, float]:
    """The rolling LP's (safety_days, kappa) chosen on training seeds by ``tune.py``."""
    import json
    from pathlib import Path

    path = Path(__file__).with_name("base_stock_params.json")
    try:
        doc = json.loads(path.read_text())["rolling_lp"]
        return {"kappa": float(doc["kappa"]), "safety_days": float(doc["safety_days"])}
    except (OSError, KeyError, ValueError):
        return {"kappa": 3.0, "safety_days": 2.0}


class ThreeTierRollingLP(_LPPolicy):
    """Model-predictive control: every ``replan_every`` (7) days the group LPs are re-solved from
    the observed state over ``lookahead`` (14) days beyond the chain's planning lead time, with
    the observed forecasts times a weekday profile learned from the observations; between
    re-plans the plan's days are executed closed-loop (retailers order up to forecast cover +
    ``safety_days``; the LP keeps soft floors of ``safety_days`` of retail and 1 day of finished
    stock). Re-planning weekly rather than daily keeps the 26 solves per episode within the
    speed budget. ``kappa`` and ``safety_days`` default to the values ``tune.py`` chose on
    training seeds (``base_stock_params.json``, key ``rolling_lp``).

    Centralised: it reads every agent's observation (paradigm ``optimization``). State it cannot
    observe is assumed: goods in transit arrive evenly over the planned delay; open orders the
    upstream node can cover ship today."""

    info = PolicyInfo(name="lp_rolling", version="1", paradigm="optimization",
                      description="ThreeTier: rolling-horizon network LP (MPC) re-solved every 7 "
                                  "days from the observed state and forecasts (HiGHS), products "
                                  "pooled per group; centralised, closed-loop between re-plans.")

    def __init__(self, env: Any, lookahead: int = 14, replan_every: int = 7, nu: float = 0.0,
                 kappa: float | None = None, safety_days: float | None = None,
                 solver: str = "highs", pool_groups: bool = True) -> None:
        tuned = _tuned_rolling()
        kappa = tuned["kappa"] if kappa is None else float(kappa)
        safety_days = tuned["safety_days"] if safety_days is None else float(safety_days)
        if int(lookahead) < 1 or int(replan_every) < 1:
            raise ValueError(f"lookahead and replan_every must be integers >= 1, got "
                             f"{lookahead!r}, {replan_every!r}")
        if safety_days < 0:
            raise ValueError(f"safety_days must be >= 0, got {safety_days!r}")
        super().__init__(env, nu=nu, kappa=kappa, solver=solver)
        self.lookahead, self.replan_every = int(lookahead), int(replan_every)
        self.pool_groups = bool(pool_groups)
        self.safety_days = float(safety_days)

    def reset(self, seed: int) -> None:
        super().reset(seed)
        self.profile: _WeekdayProfile | None = None

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        ob = self._observe(observations)
        t, T = ob.day, self.horizon
        if self.ctx is None:
            rho, w = observed_scales(self.env, observations, self.net)
            self.ctx = Context.build(self.net, rho, w, pool_groups=self.pool_groups)
            self.profile = _WeekdayProfile(self.net.n_products, int(self.params["start_day"]))
            self.executor = _Executor(self.env, self.ctx, self.nu)
        ctx, prof = self.ctx, self.profile
        assert prof is not None
        wr = ctx.w[:, None] * ctx.rho[None, :]
        rate = (ob.ret_fc * wr).sum(axis=0)                                           # (P,) sys/day
        prof.update(t, (ob.ret_last * wr).sum(axis=0), rate)
        if self.plan is None or t - self.plan.start >= self.replan_every:
            self._replan(ob, rate)
        D = int(self.dd[0, 0])
        days = np.arange(t, t + D + 1 + REQ_DAYS)
        fac = prof.factors(days)                                                       # (J, P)
        retail = ob.ret_fc * (fac[:D + 1].sum(axis=0) + self.safety_days)[None, :]     # own days
        req = rate[None, :] * fac[D + 1:]
        return self.executor.act(self.plan, ob, self.share, Targets(retail, rate, req))

    def _replan(self, ob: Observed, rate: np.ndarray) -> None:
        ctx, prof = self.ctx, self.profile
        assert ctx is not None and prof is not None
        t, T = ob.day, self.horizon
        ds, dd = planning_delays(self.params, 1, self.nu, self.kappa)
        H = min(self.lookahead + int(ds[0].max() + dd[0].max()) + 1, T - t)
        ds, dd = planning_delays(self.params, H, self.nu, self.kappa)
        self.dd = dd
        rho, w = ctx.rho, ctx.w
        demand = ctx.lane_sum(rate[None, :] * prof.factors(np.arange(t, t + H)))      # (H, L)
        # stocks not yet committed, and what is on its way (covered backlogs ship today)
        sup_free = np.maximum(ob.sup_stock - ob.sup_owed, 0.0) * rho
        sup_ship = np.minimum(ob.sup_owed, ob.sup_stock) * rho
        fin_free = np.maximum(ob.fin - ob.owed_m, 0.0) * rho
        fin_ship = np.minimum(ob.owed_m, ob.fin) * rho
        ret = (ob.ret_inv * w[:, None]).sum(axis=0) * rho
        ret_tr = (ob.ret_transit * w[:, None]).sum(axis=0) * rho
        init = ctx.lane_sum(np.stack([sup_free, ob.raw * rho, fin_free, ret]))
        Ls, Ld = max(int(ds[0, 0]), 1), max(int(dd[0, 0]), 1)
        pipe_raw = np.zeros((H, ctx.n_lanes))
        pipe_fin = np.zeros((H, ctx.n_lanes))
        pipe_raw[:min(Ls, H)] += ctx.lane_sum(ob.raw_transit * rho * self.yield_) / Ls
        pipe_raw[min(Ls, H - 1)] += ctx.lane_sum(sup_ship * self.yield_)
        pipe_fin[:min(Ld, H)] += ctx.lane_sum(ret_tr) / Ld
        pipe_fin[min(Ld, H - 1)] += ctx.lane_sum(fin_ship)
        # open orders the upstream cannot cover from stock: netted against planned orders
        self.executor.credit_s = ctx.lane_sum(np.maximum(ob.sup_owed - ob.sup_stock, 0.0) * rho)
        self.executor.credit_d = ctx.lane_sum(np.maximum(ob.owed_m - ob.fin, 0.0) * rho)
        lane_rate = ctx.lane_sum(rate)
        floor_days = np.array([0.0, 0.0, 1.0, self.safety_days])
        floors = floor_days[:, None, None] * np.broadcast_to(demand, (4, H, ctx.n_lanes))
        terminal = (floor_days + np.array([1.0, float(Ls), 0.0, float(Ld)]))[:, None] * lane_rate
        costs = Costs(**{**self.costs.__dict__, "floor": FLOOR_PENALTY})
        inp = PlanInputs(demand=demand, init=init, delay_s=ds, delay_d=dd, yield_=self.yield_,
                         costs=costs, pipe_raw=pipe_raw, pipe_fin=pipe_fin, terminal=terminal,
                         floors=floors)
        self.plan = self._solve(ctx, inp, t)
        self.share = rate
