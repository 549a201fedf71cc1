"""``supply_chain/Serial-v1``: the classic periodic-review serial inventory system (beer-game line).

Model (Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., §6.2; Clark & Scarf 1960;
Chen & Zheng 1994). ``N`` stages in series: stage 1 (downstream) faces i.i.d. customer demand,
stage j orders from stage j+1, stage N from an external supplier with unlimited stock. Stage j
receives shipments from j+1 after a deterministic shipment lead time ``L_j >= 1`` periods.
Unmet demand is backordered at every stage; only stage 1's (customer) backorders cost ``p`` per
unit per period. Each stage pays its local holding cost ``h'_j`` per unit on hand, and units in
transit into stage j (shipped by j+1) are charged at the upstream rate ``h'_{j+1}`` (units in
transit into stage N from the supplier are free, ``h'_{N+1} = 0``).

Why this cost accounting: with ``h_j = h'_j - h'_{j+1}`` (echelon holding cost) and ``E_j`` =
on-hand at stages 1..j + in transit into stages 1..j-1 - stage-1 backorders (echelon inventory
level), summation by parts gives, every period and exactly,

    Σ_j h'_j OnHand_j + Σ_{j<N} h'_{j+1} Transit_j + p B_1  =  Σ_j h_j E_j + (p + h'_1) B_1,

the right-hand side being the echelon cost that Chen & Zheng's recursion (S&S eqs. 6.8-6.13,
``baselines/chen_zheng.py``) minimises in expectation. So the simulated cost of a base-stock
policy converges to the theory's ``C*`` (verified within 1 % in
``tests/supply_chain/test_chen_zheng.py``).

Timing (one ``step`` = one decision epoch followed by one period). The events are those of
S&S §6.2 (orders, shipments and receipts, demand, costs), with the decision epoch at the period
boundary as in stockpyl's simulator (S&S's own code), where a period's orders are placed after
its demand is seen — so a lead time ``L_j`` puts exactly ``L_j`` periods of demand between an
order and its receipt, the lead-time demand ``D̃_j`` of eq. 6.10 (with ``L_j = 1`` a stage is a
newsvendor on one period's demand, as in S&S ch. 4):

1. Orders: every stage j places its order ``q_j`` (the agent's action, clipped to
   ``[0, max_order]``) with stage j+1; stage N with the supplier. Orders reach the upstream
   stage instantly (no order lead time).
2. Shipments: each stage j >= 2 ships ``min(on-hand_j, backorders owed to j-1 + q_{j-1})``
   from its current stock (oldest backorders first); the supplier ships ``q_N`` in full. A
   shipment into stage j dispatched at step t is received at step ``t + L_j - 1`` (item 3), i.e.
   ``L_j`` periods after the end of the previous period. Since decisions are simultaneous, stage
   j+1 sees stage j's order of this step only in its next observation ("last order received").
3. Receipts: every stage receives the shipments due this period.
4. Demand ``D_t`` arrives at stage 1, which ships ``min(on-hand_1, backorders + D_t)`` to
   customers (backorders first); the rest is backordered.
5. Costs (end of period): holding as above, stockout ``p × backorders_1``.

Observation (float32, local to the stage, same shape for every stage and scenario):
``[on_hand, backorders_owed_downstream, inventory_position, pipeline[0..P-1],
last_order_received]`` where ``inventory_position = on_hand + in transit in + owed by the
upstream stage (ordered, not yet shipped) - backorders owed downstream``, ``pipeline[k]`` is the
quantity in transit into this stage that will be received k steps from now (k = 0: during the
next step), ``P = max(L) + 1`` (at an observation a shipment is at most ``L_j - 1`` steps from
receipt, ``L_j + 1`` under the ``lead_time_surge`` shift; sizing for the surge keeps the space
identical in every scenario, as zero-shot evaluation on held-out shifts requires), and
``last_order_received`` is the order of stage j-1 at the previous step (stage 1: last demand).
``state()`` concatenates all stages' observations and the period index ``t``.

Reward: cooperative — every agent receives minus the total system cost of the period (a
researcher can reshape with the per-stage ``holding_cost`` counter in ``infos``).

``infos[agent]["kpi"]`` (the harness sums each counter over agents, so each quantity is
reported once): per stage — ``holding_cost`` (its on-hand and inbound-transit holding cost),
``inventory`` (its on-hand), ``total_cost`` (its holding cost, plus the stockout cost at stage 1);
from ``stage_1`` only — ``stockout_cost``, ``demand``, ``filled`` (demand met from stock in the
period it arrives), ``shipped_to_customers`` (including backorder fills); from ``stage_N`` only —
``orders`` (the upstream-most order, for the bullwhip ratio). Every agent carries every key (0
where it does not report). ``infos[agent]["violations"]["storage_overflow"]`` = on-hand above the
stage's ``storage_capacity`` at the end of the period (0 if within).

Demand: i.i.d. normal ``N(μ, σ²)`` truncated at 0 (continuous quantities; at the nominal
``σ/μ = 0.2`` truncation has probability 3e-7) or Poisson(μ). The whole path is drawn at
``reset`` from ``self.np_random`` and exposed as ``env.demand_path`` — **only policies that
declare the ``oracle`` paradigm may read it** (e.g. ``baselines/lp_hindsight.py``), and the same
holds for ``env.lead_time_at(t)``, which reveals when a lead-time surge starts.

Held-out shifts (``config.scenario.shift``, from step ``onset`` on, 0-based):
``demand_shock`` (mean × ``factor``, default 1.5), ``demand_volatility`` (sd × ``factor``,
default 3; for Poisson demand the period demand becomes negative binomial with the same mean
and variance × factor²), ``lead_time_surge`` (every lead time + 2 for shipments dispatched from
the onset on; goods already in transit keep their dates).

Initial state: no backorders, empty pipelines, on-hand per ``initial_inventory``: a number (every
stage), a list (stage 1 first), or ``"base_stock"``: the newsvendor-style local level
``μ L_j + z σ √L_j`` with ``z = Φ⁻¹(p / (p + h'_1))`` (close to the optimal installation
levels, so an episode starts near steady state rather than with an empty line).

Speed: the dynamics are vectorised over stages (numpy, a ring buffer for pipelines); the
per-step cost is dominated by building PettingZoo's per-agent dicts.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.env_base import RaoParallelEnv
from bench.spec import EnvConfig

SHIFT_KINDS = ("demand_shock", "lead_time_surge", "demand_volatility")
LEAD_TIME_SURGE = 2      # periods added to every lead time by the lead_time_surge shift
_DEFAULT_FACTOR = {"demand_shock": 1.5, "demand_volatility": 3.0}


def _as_stage_list(name: str, value: Any, n: int, *, allow_scalar: bool) -> list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not allow_scalar:
            raise ValueError(f"{name} must be a list with one entry per stage (n_stages={n}), "
                             f"stage 1 first; got the single number {value!r}")
        return [float(value)] * n
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of {n} numbers (stage 1 first), got {value!r}") from None
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} entries but n_stages={n}: give exactly one per "
                         "stage, stage 1 (downstream) first")
    return out


class SerialEnv(RaoParallelEnv):
    """Serial supply chain (``supply_chain/Serial-v1``); see the module docstring for the model.

    Agents ``stage_1`` (downstream, faces demand) .. ``stage_N`` (upstream). Each acts with an
    order quantity in ``Box(0, max_order, (1,))``.
    """

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        p = self.params
        n = p.get("n_stages")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_stages must be an integer >= 1, got {n!r}")
        n = int(n)
        self.n_stages = n
        lead = _as_stage_list("lead_times", p["lead_times"], n, allow_scalar=False)
        if any(v < 1 or v != int(v) for v in lead):
            raise ValueError(f"lead_times must be integers >= 1 (periods), got {lead}; a lead time "
                             "of 1 means an order placed at a decision epoch (the end of a period) "
                             "arrives before the next period's demand")
        self.lead_times = np.array(lead, dtype=np.int64)
        hold = _as_stage_list("holding_costs", p["holding_costs"], n, allow_scalar=False)
        if any(not math.isfinite(v) or v < 0 for v in hold):
            raise ValueError(f"holding_costs (local h'_j) must be finite and >= 0, got {hold}")
        self.holding_costs = np.array(hold)
        # in-transit into stage j is charged at h'_{j+1}; into stage N at h'_{N+1} = 0
        self.transit_costs = np.append(self.holding_costs[1:], 0.0)
        self.stockout_cost = self._positive("stockout_cost", p["stockout_cost"], allow_zero=True)
        self.demand_dist = str(p["demand_dist"])
        if self.demand_dist not in ("normal", "poisson"):
            raise ValueError(f"demand_dist must be 'normal' or 'poisson', got {self.demand_dist!r}")
        self.demand_mean = self._positive("demand_mean", p["demand_mean"])
        if self.demand_dist == "normal":
            self.demand_sd = self._positive("demand_sd", p["demand_sd"], allow_zero=True)
        else:
            self.demand_sd = math.sqrt(self.demand_mean)
        self.max_order = self._positive("max_order", p["max_order"])
        cap = _as_stage_list("storage_capacity", p["storage_capacity"], n, allow_scalar=True)
        if any(not v > 0 for v in cap):
            raise ValueError(f"storage_capacity must be > 0 (scalar or one per stage), got {cap}")
        self.storage_capacity = np.array(cap)
        self.initial_on_hand = self._initial_inventory(p.get("initial_inventory", "base_stock"))
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1 period, got {self.horizon}")
        # v2: normal demand truncated at 0 with the spec's mean and sd (v1 clips N(mu, sd) at 0)
        self.normal_truncation = str(p.get("normal_truncation", "clip"))
        if self.normal_truncation not in ("clip", "moments"):
            raise ValueError(f"normal_truncation must be 'clip' (v1) or 'moments' (a normal truncated "
                             f"at 0 whose mean and sd are the spec's), got {self.normal_truncation!r}")
        # v2: the first burn_in periods are played and rewarded but not scored (start-up transient)
        burn = p.get("burn_in", 0)
        if isinstance(burn, bool) or not isinstance(burn, (int, np.integer)) or not 0 <= burn < self.horizon:
            raise ValueError(f"burn_in must be an integer in [0, horizon={self.horizon}), got {burn!r}")
        self.burn_in = int(burn)

        self.shift_kind, self.onset, self.shift_factor = self._read_shift(config)

        self.possible_agents = [f"stage_{j}" for j in range(1, n + 1)]
        self.pipeline_len = int(self.lead_times.max()) + LEAD_TIME_SURGE - 1
        self._ring = int(self.lead_times.max()) + LEAD_TIME_SURGE   # ring buffer length
        self.obs_dim = 4 + self.pipeline_len
        low = np.zeros(self.obs_dim, dtype=np.float32)
        low[2] = -np.inf                                             # inventory position
        box = spaces.Box(low=low, high=np.full(self.obs_dim, np.inf, dtype=np.float32),
                         dtype=np.float32)
        act = spaces.Box(low=0.0, high=float(self.max_order), shape=(1,), dtype=np.float32)
        self._observation_spaces = {a: box for a in self.possible_agents}
        self._action_spaces = {a: act for a in self.possible_agents}
        self._state_reset()

    # -- parameter helpers ----------------------------------------------------------------------
    @staticmethod
    def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
            raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
        return v

    def _initial_inventory(self, value: Any) -> np.ndarray:
        if isinstance(value, str):
            if value != "base_stock":
                raise ValueError(f"initial_inventory must be 'base_stock', a number or a list of "
                                 f"{self.n_stages} numbers, got {value!r}")
            p, h1 = self.stockout_cost, self.holding_costs[0]
            ratio = p / (p + h1) if p + h1 > 0 else 0.5
            z = NormalDist().inv_cdf(min(max(ratio, 1e-6), 1 - 1e-6))
            L = self.lead_times.astype(float)
            return np.maximum(self.demand_mean * L + z * self.demand_sd * np.sqrt(L), 0.0)
        vals = _as_stage_list("initial_inventory", value, self.n_stages, allow_scalar=True)
        if any(not math.isfinite(v) or v < 0 for v in vals):
            raise ValueError(f"initial_inventory must be >= 0, got {vals}")
        return np.array(vals)

    def _read_shift(self, config: EnvConfig) -> tuple[str | None, int, float]:
        shift = config.scenario.shift
        if shift is None:
            return None, self.horizon, 1.0
        kind = str(shift.get("kind"))
        if kind not in SHIFT_KINDS:
            raise ValueError(f"scenario {config.scenario.name!r}: shift.kind {kind!r} is not "
                             f"supported by Serial-v1; use one of {SHIFT_KINDS}")
        onset = int(shift["onset"])
        factor = float(shift.get("factor", _DEFAULT_FACTOR.get(kind, 1.0)))
        if kind != "lead_time_surge" and not factor > 0:
            raise ValueError(f"scenario {config.scenario.name!r}: shift.factor must be > 0")
        return kind, onset, factor

    # -- per-period demand parameters (shift-aware) -----------------------------------------------
    def demand_mean_path(self) -> np.ndarray:
        """Mean demand of every period of the episode (the shift changes it from onset on)."""
        mean = np.full(self.horizon, self.demand_mean)
        if self.shift_kind == "demand_shock":
            mean[self.onset:] *= self.shift_factor
        return mean

    def demand_sd_path(self) -> np.ndarray:
        """Standard deviation of demand in every period of the episode."""
        sd = np.full(self.horizon, self.demand_sd)
        if self.shift_kind == "demand_shock" and self.demand_dist == "poisson":
            sd[self.onset:] = math.sqrt(self.demand_mean * self.shift_factor)
        if self.shift_kind == "demand_volatility":
            sd[self.onset:] *= self.shift_factor
        return sd

    def lead_time_at(self, t: int) -> np.ndarray:
        """Lead times ``L_j`` (stage 1 first) of shipments dispatched at step ``t`` (they change
        at the onset of ``lead_time_surge``; oracles only, like ``demand_path``)."""
        if self.shift_kind == "lead_time_surge" and t >= self.onset:
            return self.lead_times + LEAD_TIME_SURGE
        return self.lead_times

    def _draw_demand(self, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = self.np_random if rng is None else rng
        T = self.horizon
        mean = self.demand_mean_path()
        if self.demand_dist == "normal":
            sd = self.demand_sd_path()
            if self.normal_truncation == "moments":
                return truncated_normal(rng, mean, sd)
            return np.maximum(mean + sd * rng.standard_normal(T), 0.0)
        if self.shift_kind == "demand_volatility":
            d = np.empty(T)
            d[: self.onset] = rng.poisson(mean[: self.onset])
            # negative binomial with the same mean and variance x factor^2 (over-dispersed Poisson)
            k = self.shift_factor ** 2
            if k > 1:
                prob = 1.0 / k
                n_nb = mean[self.onset:] * prob / (1.0 - prob)
                d[self.onset:] = rng.negative_binomial(n_nb, prob)
            else:
                d[self.onset:] = rng.poisson(mean[self.onset:])
            return d
        return rng.poisson(mean).astype(float)

    # -- simulation -----------------------------------------------------------------------------------
    # State (stage j at index j-1): ``_oh_ext`` on-hand with a virtual stage N+1 = the supplier
    # (infinite stock, so "ship min(on-hand, request)" needs no special case); ``_bo_ext``
    # backorders owed downstream (index 0: customers; index N: the supplier's, always 0);
    # ``_arr[slot, j]`` quantity to be received by stage j at a step with ``step % ring == slot``.
    def _state_reset(self) -> None:
        n = self.n_stages
        self._oh_ext = np.append(self.initial_on_hand, np.inf)
        self._bo_ext = np.zeros(n + 1)
        self._arr = np.zeros((self._ring, n))
        self._arr_flat = self._arr.reshape(-1)        # a view, for dispatching by flat index
        self.last_received = np.zeros(n)              # last order from downstream (stage 1: demand)
        self._transit = np.zeros(n)                   # in transit into each stage (= _arr.sum(0))
        self._demand_path = np.zeros(self.horizon)
        # flat ring indices at which shipments dispatched at a step with step % ring == r land:
        # slot (r - 1 + L_j) % ring of stage j; one table for nominal and one for surged lead times
        r = np.arange(self._ring)[:, None]
        cols = np.arange(n)[None, :]
        self._due_nominal = ((r - 1 + self.lead_times[None, :]) % self._ring) * n + cols
        self._due_surge = ((r - 1 + self.lead_times[None, :] + LEAD_TIME_SURGE) % self._ring) * n + cols
        self._pipe_rows = (np.arange(self._ring)[:, None] + np.arange(self.pipeline_len)[None, :]) % self._ring

    @property
    def on_hand(self) -> np.ndarray:
        """On-hand inventory per stage (stage 1 first); a read-only copy."""
        return self._oh_ext[:-1].copy()

    @property
    def backorders(self) -> np.ndarray:
        """Units owed downstream per stage (stage 1: customer backorders); a copy."""
        return self._bo_ext[:-1].copy()

    @property
    def in_transit(self) -> np.ndarray:
        """Units in transit into each stage (stage 1 first)."""
        return self._arr.sum(axis=0)

    def _reset_sim(self) -> None:
        self._state_reset()
        path = self._draw_demand()
        path.setflags(write=False)
        self._demand_path = path
        self._transit = self._arr.sum(axis=0)

    def perturb_future(self, t0: int, seed: int) -> None:
        """Redraw the demand of periods ``>= t0`` from a Generator seeded by ``seed``
        (``bench.checks.check_no_foresight``); lead times are deterministic. Call after reset."""
        if not 0 <= t0 < self.horizon:
            raise ValueError(f"perturb_future: t0 must lie in [0, {self.horizon}), got {t0}")
        path = self._demand_path.copy()
        path[t0:] = self._draw_demand(np.random.Generator(np.random.PCG64(seed)))[t0:]
        path.setflags(write=False)
        self._demand_path = path

    @property
    def demand_path(self) -> np.ndarray:
        """The episode's realised demand, drawn at reset (read-only). ORACLES ONLY: a policy
        that reads it must declare paradigm ``oracle``."""
        return self._demand_path

    def _actions_to_array(self, actions: Mapping[str, Any]) -> np.ndarray:
        n = self.n_stages
        try:
            q = np.array([actions[a] for a in self.possible_agents], dtype=float).reshape(n)
        except (ValueError, TypeError):
            q = np.array([float(np.asarray(actions[a], dtype=float).reshape(-1)[0])
                          for a in self.possible_agents])
        if not math.isfinite(sum(q.tolist())):       # (a Python sum is faster for short arrays)
            bad = [a for a, v in zip(self.possible_agents, q.tolist()) if not math.isfinite(v)]
            if bad:
                raise ValueError("order quantities must be finite numbers; got non-finite orders "
                                 f"for {bad[:5]}")
        np.maximum(q, 0.0, out=q)
        np.minimum(q, self.max_order, out=q)
        return q

    def _step_sim(self, actions: Mapping[str, Any]):
        t = self.t
        q = self._actions_to_array(actions)
        oh_ext, bo_ext, arr = self._oh_ext, self._bo_ext, self._arr
        ring = self._ring
        r = t % ring

        # 2. shipments: stage j+1 (the supplier for j = N) ships to stage j against its backlog
        #    plus q_j, from its current stock
        req = bo_ext[1:] + q
        ship = np.minimum(oh_ext[1:], req)
        oh_ext[1:] -= ship
        bo_ext[1:] = req - ship
        due = self._due_surge if (self.shift_kind == "lead_time_surge" and t >= self.onset) \
            else self._due_nominal
        self._arr_flat[due[r]] += ship

        # 3. receipts
        oh = oh_ext[:-1]                      # view of the real stages
        oh += arr[r]
        arr[r] = 0.0

        # 4. customer demand at stage 1 (backorders first)
        d = float(self._demand_path[t])
        on1, bo1 = float(oh[0]), float(bo_ext[0])
        shipped = min(on1, bo1 + d)
        filled = min(d, max(on1 - bo1, 0.0))
        oh[0] = on1 - shipped
        bo1 = bo1 + d - shipped
        bo_ext[0] = bo1

        # 5. costs (end of period)
        self._transit = transit = arr.sum(axis=0)
        hold_l = (self.holding_costs * oh + self.transit_costs * transit).tolist()
        stockout = self.stockout_cost * bo1
        total = sum(hold_l) + stockout
        oh_l = oh.tolist()
        over_l = np.maximum(oh - self.storage_capacity, 0.0).tolist()

        lr = self.last_received
        lr[0] = d
        lr[1:] = q[:-1]

        agents = self.possible_agents
        kpi = {}
        violations = {}
        for j, a in enumerate(agents):
            kpi[a] = {"holding_cost": hold_l[j], "stockout_cost": 0.0, "total_cost": hold_l[j],
                      "demand": 0.0, "filled": 0.0, "orders": 0.0, "inventory": oh_l[j],
                      "shipped_to_customers": 0.0}
            violations[a] = {"storage_overflow": over_l[j]}
        if self.burn_in:
            # v2: scored counters, zero during the burn-in (cost_per_period and fill_rate use them)
            scored = t >= self.burn_in
            for j, a in enumerate(agents):
                kpi[a]["scored_cost"] = hold_l[j] if scored else 0.0
                kpi[a]["scored_periods"] = 0.0
                kpi[a]["scored_demand"] = kpi[a]["scored_filled"] = 0.0
            if scored:
                k1 = kpi[agents[0]]
                k1["scored_cost"] = hold_l[0] + stockout
                k1["scored_periods"] = 1.0
                k1["scored_demand"], k1["scored_filled"] = d, filled
        k1 = kpi[agents[0]]
        k1["stockout_cost"] = stockout
        k1["total_cost"] = hold_l[0] + stockout
        k1["demand"] = d
        k1["filled"] = filled
        k1["shipped_to_customers"] = shipped
        kpi[agents[-1]]["orders"] = float(q[-1])
        rewards = dict.fromkeys(agents, -total)
        return rewards, kpi, violations

    # -- observations -----------------------------------------------------------------------------
    def _obs_matrix(self) -> np.ndarray:
        n, P = self.n_stages, self.pipeline_len
        oh_ext, bo_ext = self._oh_ext, self._bo_ext
        pipe = self._arr[self._pipe_rows[self.t % self._ring]]      # (P, n)
        m = np.empty((n, self.obs_dim), dtype=np.float32)
        m[:, 0] = oh_ext[:-1]
        m[:, 1] = bo_ext[:-1]
        # inventory position: on hand + in transit in + owed by upstream - owed downstream
        m[:, 2] = oh_ext[:-1] + self._transit + bo_ext[1:] - bo_ext[:-1]
        m[:, 3:3 + P] = pipe.T
        m[:, 3 + P] = self.last_received
        return m

    def _observe(self) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, self._obs_matrix()))

    def state(self) -> np.ndarray:
        """All stages' observations (stage 1 first) followed by the period index ``t``."""
        m = self._obs_matrix().astype(np.float64).reshape(-1)
        return np.append(m, float(self.t))

    def _state_template(self) -> np.ndarray:
        return np.zeros(self.n_stages * self.obs_dim + 1)


def truncated_normal(rng: np.random.Generator, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Draws of a normal truncated at 0 whose mean and sd ARE ``mean`` and ``sd`` (per period).

    The parent N(m, s^2) is solved from the truncated moments (Johnson, Kotz & Balakrishnan,
    *Continuous Univariate Distributions* vol. 1, 2nd ed., eqs. 13.134-13.135): with
    alpha = -m/s and lambda = phi(alpha) / (1 - Phi(alpha)),
    E = m + s lambda,  Var = s^2 (1 + alpha lambda - lambda^2).
    Sampling is by inversion, one uniform per period: x = m + s Phi^-1(Phi(alpha) + u (1 - Phi(alpha))).
    A truncated normal has CV < 1, so ``sd < mean`` is required.
    """
    from scipy.special import ndtr, ndtri

    mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
    pairs = {(float(a), float(b)) for a, b in zip(mean.ravel(), sd.ravel())}
    parent = {pair: _parent_normal(*pair) for pair in pairs}
    m = np.array([parent[(float(a), float(b))][0] for a, b in zip(mean.ravel(), sd.ravel())])
    s = np.array([parent[(float(a), float(b))][1] for a, b in zip(mean.ravel(), sd.ravel())])
    u = rng.random(m.shape)
    lo = ndtr(-m / np.where(s > 0, s, 1.0))
    x = np.where(s > 0, m + s * ndtri(lo + u * (1.0 - lo)), m)
    return np.maximum(x, 0.0).reshape(mean.shape)


def _parent_normal(mu: float, sigma: float) -> tuple[float, float]:
    """(m, s) of the parent normal whose truncation at 0 has mean ``mu`` and sd ``sigma``."""
    from scipy.optimize import fsolve
    from scipy.stats import truncnorm

    if sigma == 0.0:
        return mu, 0.0
    if not sigma < mu:
        raise ValueError(f"a normal truncated at 0 needs sd < mean (CV < 1); got mean {mu}, sd {sigma}. "
                         "Lower demand_sd (or the demand_volatility factor) or use demand_dist: poisson")

    def moments(x: np.ndarray) -> np.ndarray:
        m, log_s = x
        s = math.exp(log_s)
        dist = truncnorm(-m / s, math.inf, loc=m, scale=s)
        return np.array([dist.mean() - mu, dist.std() - sigma])

    m, log_s = fsolve(moments, [mu, math.log(sigma)], xtol=1e-13)
    return float(m), math.exp(float(log_s))
