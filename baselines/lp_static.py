"""Static LP baseline (the founding paper's "static LP"): plan every order once, then execute.

At the first decision of an episode the policy solves one deterministic linear program of the
whole line over the whole episode, with demand replaced by its forecast (the mean), and then
plays the planned order quantities period by period whatever demand turns out to be. It is an
open-loop plan: the gap to the closed-loop baselines measures the value of reacting to demand.

This file also holds the deterministic LP model of ``supply_chain/Serial-v1`` that the rolling
(``lp_rolling.py``) and hindsight (``lp_hindsight.py``) baselines reuse: :func:`serial_lp`
builds it in matrix form, :func:`solve_pulp` (CBC through PuLP) or :func:`solve_highs` (HiGHS
through SciPy, in-process and fast) solves it.

The LP mirrors the env's period exactly (``tasks/supply_chain/serial.py``), stages ``i = 0..N-1``
(stage 1 first), planning periods ``k = 0..H-1``; variables ``q[i,k]`` (order of stage i,
``0 <= q <= max_order``), ``OH[i,k]`` (on hand at the end of period k), ``R[i,k]`` (units owed
downstream after period k; ``R[0,k]`` = customer backorders), all ``>= 0``:

* shipment of stage i >= 1 to stage i-1:  ``s[i,k] = R[i,k-1] + q[i-1,k] - R[i,k]``,
  ``0 <= s[i,k] <= OH[i,k-1]`` (shipped from stock before this period's receipts);
  the supplier ships ``q[N-1,k]`` in full;
* receipts:  ``A[i,k] = pipe[i,k] + Σ_{τ: τ+L_i(τ)-1 = k} x[i,τ]`` with ``x[i,τ]`` the shipment
  into stage i dispatched in period τ (``x[i,k-L_i+1]`` for fixed lead times) and ``pipe``
  what is already in transit (from the observation);
* customers:  ``c[k] = R[0,k-1] + d[k] - R[0,k]``,  ``0 <= c[k] <= OH[0,k-1] + A[0,k]``;
* balance:  ``OH[i,k] = OH[i,k-1] + A[i,k] - (s[i,k] or c[k])``;
* cost:  ``Σ_k Σ_i h'_i OH[i,k] + h'_{i+1} T[i,k] + p R[0,k] + ε Σ_{i>=1} R[i,k]`` with ``T``
  the quantity in transit into stage i at the end of period k (the env's cost, Snyder & Shen
  §6.2.1, plus a tiny ``ε`` on internal backlogs so that the plan never orders what it does not
  mean to ship: then the env's greedy shipping executes the plan exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
from scipy import sparse

from baselines import lp_solvers
from bench.policy import PolicyInfo
from baselines.three_tier import ThreeTierStaticLP  # ThreeTier-v1 variant (its own package)

THREE_TIER = "supply_chain/ThreeTier-v1"

SERIAL = "supply_chain/Serial-v1"
BACKLOG_EPS = 1e-3     # ε: cost per unit of internal backlog per period (tie-break only)


# ----------------------------------------------------------------------------------------------
# the deterministic LP of the serial line (shared with lp_rolling.py and lp_hindsight.py)
# ----------------------------------------------------------------------------------------------

@dataclass
class SerialLP:
    """A serial-line LP in matrix form: min c·z  s.t.  A_eq z = b_eq,  A_ub z <= b_ub,
    ``0 <= z <= upper``; ``z = [q, OH, R]`` each of shape (N, H) flattened row-major."""

    n: int
    H: int
    c: np.ndarray
    A_eq: sparse.csr_matrix
    b_eq: np.ndarray
    A_ub: sparse.csr_matrix
    b_ub: np.ndarray
    upper: np.ndarray
    const: float            # cost of the initial pipeline's transit, not in c·z

    def orders(self, z: np.ndarray) -> np.ndarray:
        """Planned orders, shape (H, N): row k = every stage's order in period k."""
        return np.maximum(z[: self.n * self.H].reshape(self.n, self.H).T, 0.0)

    def true_cost(self, z: np.ndarray) -> float:
        """Plan cost without the ε tie-break on internal backlogs (= the env's cost)."""
        n, H = self.n, self.H
        R = z[2 * n * H:].reshape(n, H)
        return float(self.c @ z + self.const - BACKLOG_EPS * R[1:].sum())


def serial_lp(on_hand: np.ndarray, backorders: np.ndarray, pipeline: np.ndarray,
              demand: np.ndarray, lead_times: np.ndarray, holding_costs: np.ndarray,
              stockout_cost: float, max_order: float) -> SerialLP:
    """Build the deterministic LP of the serial line from a state and a demand sequence.

    Args:
        on_hand: ``OH[i,-1]``, on hand per stage now (stage 1 first).
        backorders: ``R[i,-1]``, units owed downstream per stage now (index 0: customers).
        pipeline: (N, P) ``pipe[i,k]``: in transit into stage i, received in period k
            (the env's observation slots).
        demand: ``d[k]``, k = 0..H-1 (forecast or realised): fixes the horizon H.
        lead_times: ``L_i >= 1`` for shipments dispatched in the plan: shape (N,), or (H, N)
            for lead times that change over the plan (row k: shipments dispatched in period
            k; the hindsight oracle uses this under the ``lead_time_surge`` shift).
        holding_costs: local ``h'_i``; in-transit into stage i costs ``h'_{i+1}`` (0 into N).
        stockout_cost: ``p`` per customer backorder per period.
        max_order: upper bound of every order (the env's action bound).

    Why matrix form: one builder serves CBC (via PuLP) and HiGHS (via SciPy), and the rolling
    baseline can rebuild it cheaply every period.
    """
    n, H = len(on_hand), len(demand)
    L = np.asarray(lead_times, dtype=int)
    L = np.broadcast_to(L, (H, n)) if L.ndim == 1 else L
    if L.shape != (H, n) or np.any(L < 1):
        raise ValueError(f"lead_times must be integers >= 1 of shape ({n},) or ({H}, {n}); got "
                         f"shape {L.shape}")
    # which dispatch periods τ deliver into stage i in period k (τ + L_i(τ) - 1 = k)
    deliveries: list[list[list[int]]] = [[[] for _ in range(H)] for _ in range(n)]
    for tau in range(H):
        for i in range(n):
            k = tau + int(L[tau, i]) - 1
            if k < H:
                deliveries[i][k].append(tau)
    h = np.asarray(holding_costs, dtype=float)
    tc = np.append(h[1:], 0.0)
    nv = 3 * n * H
    Q, O, B = 0, n * H, 2 * n * H            # offsets of q, OH, R

    def q(i: int, k: int) -> int:
        return Q + i * H + k

    def oh(i: int, k: int) -> int:
        return O + i * H + k

    def r(i: int, k: int) -> int:
        return B + i * H + k

    P = pipeline.shape[1]
    pipe = np.zeros((n, H))
    m = min(P, H)
    pipe[:, :m] = pipeline[:, :m]

    c = np.zeros(nv)
    c[O:B] = np.repeat(h, H)
    c[B:B + H] = stockout_cost
    c[B + H:] = BACKLOG_EPS
    # transit cost of shipment x[i,τ]: charged tc_i for every period end it spends in transit,
    # i.e. periods τ .. min(τ+L_i-2, H-1)  ->  min(L_i-1, H-τ) periods
    const = 0.0
    for i in range(n):
        for k in range(H):                   # initial pipeline still in transit at end of k
            const += tc[i] * pipeline[i, k + 1:].sum() if k + 1 < P else 0.0
    eq_rows, eq_cols, eq_vals, b_eq = [], [], [], []
    ub_rows, ub_cols, ub_vals, b_ub = [], [], [], []
    row = [0, 0]

    def add(kind: int, terms: list[tuple[int, float]], rhs: float) -> None:
        rows, cols, vals, b = (eq_rows, eq_cols, eq_vals, b_eq) if kind == 0 else \
            (ub_rows, ub_cols, ub_vals, b_ub)
        for col, val in terms:
            rows.append(row[kind])
            cols.append(col)
            vals.append(val)
        b.append(rhs)
        row[kind] += 1

    def ship_terms(i: int, k: int, sign: float) -> tuple[list[tuple[int, float]], float]:
        """sign * s[i,k] as (terms, constant) for stage i >= 1 shipping to i-1."""
        terms = [(q(i - 1, k), sign), (r(i, k), -sign)]
        const_ = 0.0
        if k == 0:
            const_ += sign * backorders[i]
        else:
            terms.append((r(i, k - 1), sign))
        return terms, const_

    for i in range(n):
        for k in range(H):
            # shipment x[i,k] into stage i dispatched in period k: its transit cost
            span = min(int(L[k, i]) - 1, H - k)
            if span > 0 and tc[i] > 0:
                if i < n - 1:
                    t_terms, t_const = ship_terms(i + 1, k, tc[i] * span)
                    for col, val in t_terms:
                        c[col] += val
                    const += t_const
                else:
                    c[q(i, k)] += tc[i] * span
            # receipts A[i,k] = pipe[i,k] + shipments into i due in period k
            arr_terms: list[tuple[int, float]] = []
            arr_const = pipe[i, k]
            for tau in deliveries[i][k]:
                if i < n - 1:
                    t_terms, t_const = ship_terms(i + 1, tau, 1.0)
                    arr_terms += t_terms
                    arr_const += t_const
                else:
                    arr_terms.append((q(i, tau), 1.0))
            # outflow of stage i in period k: s[i,k] (i >= 1) or customer shipments c[k]
            if i >= 1:
                out_terms, out_const = ship_terms(i, k, 1.0)
            else:
                out_terms = [(r(0, k), -1.0)]
                out_const = float(demand[k])
                if k == 0:
                    out_const += backorders[0]
                else:
                    out_terms.append((r(0, k - 1), 1.0))
            prev_oh: list[tuple[int, float]] = [] if k == 0 else [(oh(i, k - 1), 1.0)]
            prev_const = on_hand[i] if k == 0 else 0.0
            # balance: OH[i,k] - OH[i,k-1] - A[i,k] + out = 0
            terms = [(oh(i, k), 1.0)] + [(cc, -v) for cc, v in prev_oh] \
                + [(cc, -v) for cc, v in arr_terms] + out_terms
            add(0, terms, prev_const + arr_const - out_const)
            # out >= 0   ->  -out <= 0
            add(1, [(cc, -v) for cc, v in out_terms], out_const)
            # out <= OH[i,k-1] (+ A[0,k] for customers)
            lim_terms = prev_oh + (arr_terms if i == 0 else [])
            lim_const = prev_const + (arr_const if i == 0 else 0.0)
            add(1, out_terms + [(cc, -v) for cc, v in lim_terms], lim_const - out_const)

    upper = np.full(nv, np.inf)
    upper[Q:O] = max_order
    A_eq = sparse.csr_matrix((eq_vals, (eq_rows, eq_cols)), shape=(row[0], nv))
    A_ub = sparse.csr_matrix((ub_vals, (ub_rows, ub_cols)), shape=(row[1], nv))
    return SerialLP(n, H, c, A_eq, np.asarray(b_eq, dtype=float), A_ub,
                    np.asarray(b_ub, dtype=float), upper, const)


def solve_highs(lp: SerialLP) -> np.ndarray:
    """Solve with HiGHS (SciPy's ``linprog``), in-process; returns the solution vector z."""
    return lp_solvers.solve_highs(lp, "serial LP")[0]


def solve_pulp(lp: SerialLP) -> np.ndarray:
    """Solve with CBC through PuLP (``msg`` off); returns the solution vector z."""
    return lp_solvers.solve_cbc(lp, "serial LP")[0]


def serial_state(observations: Mapping[str, Any], agents: list[str], pipeline_len: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(on_hand, backorders, pipeline (N, P)) from the env's per-stage observations
    ``[on_hand, backorders, inventory_position, pipeline[P], last_order_received]``."""
    m = np.array([observations[a] for a in agents], dtype=float)
    return m[:, 0], m[:, 1], m[:, 3:3 + pipeline_len]


def as_actions(agents: list[str], q: np.ndarray) -> dict[str, np.ndarray]:
    """Order quantities ``q_i`` (stage 1 first) as the env's per-agent ``Box(0, max_order, (1,))``
    actions."""
    return {a: np.array([v], dtype=np.float32) for a, v in zip(agents, q.tolist())}


# ----------------------------------------------------------------------------------------------
# the policy
# ----------------------------------------------------------------------------------------------

SERIAL_V2 = "supply_chain/Serial-v2"
THREE_TIER_V2 = "supply_chain/ThreeTier-v2"


class _SerialStaticLP:
    """Serial-v1: plan from the first observation with mean-demand forecast over the episode."""

    def __init__(self, env: Any) -> None:
        p = env.params
        self.agents = list(env.possible_agents)
        self.horizon = int(env.horizon)
        self.pipeline_len = int(env.pipeline_len)
        self.lead_times = np.asarray(p["lead_times"], dtype=int)
        self.holding = np.asarray(p["holding_costs"], dtype=float)
        self.p = float(p["stockout_cost"])
        self.mean = float(p["demand_mean"])
        self.max_order = float(p["max_order"])
        self.plan: np.ndarray | None = None
        self.k = 0

    def reset(self, seed: int) -> None:
        self.plan, self.k = None, 0

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self.plan is None:
            oh, bo, pipe = serial_state(observations, self.agents, self.pipeline_len)
            lp = serial_lp(oh, bo, pipe, np.full(self.horizon, self.mean), self.lead_times,
                           self.holding, self.p, self.max_order)
            self.plan = lp.orders(solve_pulp(lp))
        q = self.plan[self.k] if self.k < len(self.plan) else np.zeros(len(self.agents))
        self.k += 1
        return as_actions(self.agents, q)


class StaticLPPolicy:
    """The paper's static LP: one deterministic plan (mean-demand forecast, CBC via PuLP) at the
    start of the episode, executed open-loop."""

    info = PolicyInfo(name="lp_static", version="1", paradigm="optimization",
                      description="Open-loop plan from one deterministic LP (mean-demand "
                                  "forecast) solved at reset with CBC; executed regardless of "
                                  "realised demand.")
    tasks = (SERIAL, THREE_TIER, SERIAL_V2, THREE_TIER_V2)
    _variants: dict[str, Callable[[Any], Any]] = {SERIAL: _SerialStaticLP, THREE_TIER: lambda env: ThreeTierStaticLP(env),
                                 SERIAL_V2: _SerialStaticLP, THREE_TIER_V2: lambda env: ThreeTierStaticLP(env)}

    def __init__(self, env: Any) -> None:
        variant = self._variants.get(env.spec_id)
        if variant is None:
            raise ValueError(f"lp_static has no variant for task {env.spec_id!r}; supported: "
                             f"{', '.join(self._variants)}")
        self._impl = variant(env)

    def reset(self, seed: int) -> None:
        self._impl.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return self._impl.act(observations)
