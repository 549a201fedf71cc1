"""Decentralised inventory heuristics for ``supply_chain/ThreeTier-v1``: the founding paper's
periodic review policy (PRP, an order-up-to policy) and a base-stock policy with tuned safety
factors.

Why these two: they are what a practitioner runs without a model of the network, each node
looking only at its own observation, and they bracket the MARL agents from below (PRP, the
paper's heuristic) and from a stronger, tuned side (base stock).

Both act on each agent's **own observation only** (decentralised; the policy keeps a small
per-agent memory of past forecasts and errors, nothing else). All quantities are in the
observation's unit, *days of the node's mean demand* of each product, so nothing depends on
absolute volumes. For a node and product with forecast ``f`` (the observation's 7-day mean
forecast of the node's incoming flow) and forecast-error s.d. ``sigma`` (below):

    order-up-to level   S = f (L + R) + k sigma sqrt(L + R)
    order               q = max(0, S - IP),  IP = on hand + in transit + ordered, not shipped

with ``L`` the node's replenishment lead time (the cheap route's mean from the spec's
parameters, plus the time from the morning decision to the shipment's dispatch: +0.5 day for
finished goods, +0.25 for raw material), ``R`` the review period (days between orders) and
``k`` a safety factor (Silver, Pyke & Peterson, *Inventory and Production Management in Supply
Chains*, 4th ed., ch. 7: the "protection interval" L + R of periodic review). Per tier:

* retailer (each product): orders to its manufacturer, L = distribution road mean lead time;
* manufacturer, raw material (each own product): orders to its supplier, L = supply road mean
  lead time shortened by negotiation, level divided by the mean yield ``1 - defect``;
* manufacturer, finished goods: produces every day up to ``S_f + owed`` (L = 0: production is
  available the same day, R = 1), at most its raw stock; requests above capacity are scaled down
  proportionally (the capacity allocation), so no production-over-capacity violation occurs;
* supplier (each own product): produces every day up to ``S_s + owed`` within capacity.

``sigma`` is the EWMA (weight 0.05) of the squared one-day error of the node's own forecast
(yesterday's forecast against the flow observed today: customer demand at a retailer, incoming
orders upstream), started at ``0.3 f``. A quantity above the action's bound (2 days of mean
demand a day) is released over the following days. Shipments go by the cheap (first) route;
each manufacturer sets the same negotiation level with every supplier.

``ThreeTierOrderUpTo`` (PRP): R = ``review_period`` days (default 4, as the Serial-v1 variant;
retailer k and manufacturer j review on days ``t = k mod R`` and ``t = j mod R``, so that the
upstream node sees a steady stream of batches), k = z of ``service_level`` (default 95 %, z =
1.645). Production reviews are daily. Paradigm ``heuristic``.

``ThreeTierBaseStock``: R = 1 for every decision (daily review) and one safety factor per
tier, ``k = (retailer, finished, raw, supplier)``, tuned by simulation on training seeds only
(``baselines/three_tier/tune.py``; values in ``base_stock_params.json``). Paradigm
``optimization``: its levels are the result of a simulation optimisation (a coordinate search
maximising the spec's V), like the Serial-v1 base-stock levels that come from an optimum. The
tuned factors are large (5-10 at retail and for finished goods) because ``sigma`` is the error
of a 7-day-mean forecast and understates the weekday peaks a node must cover.

``FixedCoverPolicy`` is the env module's former reference controller (fixed covers in days of
forecast), kept here for the env's tests and speed benchmark.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any, Mapping

import numpy as np

from bench.policy import PolicyInfo
from tasks.supply_chain.network import parse_agent

THREE_TIER = "supply_chain/ThreeTier-v1"
THREE_TIER_IDS = (THREE_TIER, "supply_chain/ThreeTier-v2")   # same network, actions and observations
PARAMS_FILE = Path(__file__).with_name("base_stock_params.json")
SIGMA_SMOOTHING = 0.05          # EWMA weight of each new squared forecast error
SIGMA_START_CV = 0.3            # initial sigma as a share of the forecast
DEFAULT_NEGOTIATION = 0.25
BOUND_MARGIN = 0.999            # stay just inside each action's upper bound (1.0)


class _Node:
    """Memory of one agent: last forecasts and error variances of its own flows (own days)."""

    __slots__ = ("prev_fc", "var", "pending")

    def __init__(self) -> None:
        self.prev_fc: np.ndarray | None = None
        self.var: np.ndarray | None = None
        self.pending: dict[str, np.ndarray] = {}

    def sigma(self, forecast: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
        """Update the error variance with today's observed flow; return the current s.d."""
        if self.var is None:
            self.var = (SIGMA_START_CV * forecast) ** 2
        elif observed is not None and self.prev_fc is not None:
            err = observed - self.prev_fc
            self.var = self.var + SIGMA_SMOOTHING * (err ** 2 - self.var)
        self.prev_fc = forecast.copy()
        return np.sqrt(self.var)


class _Decentralised:
    """Shared order-up-to machinery; subclasses fix review periods and safety factors."""

    info: PolicyInfo
    tasks = THREE_TIER_IDS

    def __init__(self, env: Any, review: Mapping[str, int], k: Mapping[str, float],
                 negotiation: float) -> None:
        if getattr(env, "spec_id", THREE_TIER) not in THREE_TIER_IDS:
            raise ValueError(f"{type(self).__name__} is for {THREE_TIER_IDS}, not {env.spec_id!r}")
        for name, r in review.items():
            if int(r) < 1:
                raise ValueError(f"review period {name!r} must be an integer >= 1 day, got {r!r}")
        if not 0.0 <= negotiation <= 1.0:
            raise ValueError(f"negotiation must lie in [0, 1], got {negotiation!r}")
        p = env.params
        self.agents = list(env.possible_agents)
        self.lay_o = {a: env.observation_layout(a) for a in self.agents}
        self.lay_a = {a: env.action_layout(a) for a in self.agents}
        self.n_act = {a: max(s.stop for s in lay.values()) for a, lay in self.lay_a.items()}
        self.scale = float(p["action_scale_days"])
        self.review = {name: int(r) for name, r in review.items()}
        self.k = {name: float(v) for name, v in k.items()}
        self.negotiation = float(negotiation)
        self.yield_ = 1.0 - float(p["defect_mean"]) * (1.0 - float(p["negotiation_defect_cut"]) * negotiation)
        # decision (t + 0) to use: dispatch at t + 0.5 and sale at t' + 0.75 for finished goods,
        # dispatch at t + 0.25 and production at t' + 0.5 for raw material
        self.lead_d = float(p["routes_distribution"][0]["lead_time_mean"]) + 0.5
        self.lead_s = float(p["routes_supply"][0]["lead_time_mean"]) * (
            1.0 - float(p["negotiation_lead_mean_cut"]) * negotiation) + 0.25
        self.horizon = int(env.horizon)
        self.reset(0)

    def reset(self, seed: int) -> None:
        """Clear every agent's memory (the policy is deterministic; ``seed`` is unused)."""
        self.nodes = {a: _Node() for a in self.agents}
        self.t = 0

    def _level(self, f: np.ndarray, sigma: np.ndarray, lead: float, review: int, k: float) -> np.ndarray:
        span = lead + review
        return f * span + k * sigma * math.sqrt(span)

    def _release(self, node: _Node, key: str, need: np.ndarray, review_day: bool) -> np.ndarray:
        """Order ``need`` (action units) on a review day; what exceeds the daily bound (1.0) is
        released on the following days."""
        bound = BOUND_MARGIN
        if review_day:
            node.pending[key] = need.copy()
        pend = node.pending.get(key)
        if pend is None:
            return np.zeros_like(need)
        q = np.minimum(pend, bound)
        node.pending[key] = pend - q
        return q

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """One action per observed agent, each from that agent's observation alone."""
        out = {a: self._act_one(a, np.asarray(o, dtype=np.float64)) for a, o in observations.items()}
        self.t += 1
        return out

    def _act_one(self, a: str, o: np.ndarray) -> np.ndarray:
        tier, idx = parse_agent(a)
        lay, al, node = self.lay_o[a], self.lay_a[a], self.nodes[a]
        g = lambda name: o[lay[name]]  # noqa: E731
        act = np.zeros(self.n_act[a])
        t = self.t
        if tier == "retailer":
            fc = g("forecast")
            sigma = node.sigma(fc, g("last_demand") if t > 0 else None)
            R = self.review["retailer"]
            level = self._level(fc, sigma, self.lead_d, R, self.k["retailer"])
            position = g("inventory") + g("in_transit") + g("upstream_backlog")
            review_day = (t - idx) % R == 0
            need = np.maximum(level - position, 0.0) / self.scale
            act[al["order"]] = self._release(node, "order", need, review_day)
            act[al["route"].start] = 1.0
        elif tier == "manufacturer":
            fc, owed = g("forecast"), g("backlog_owed")
            sigma = node.sigma(fc, g("incoming_orders") if t > 0 else None)
            s_fin = self._level(fc, sigma, 0.0, 1, self.k["finished"])
            prod = np.minimum(np.maximum(s_fin + owed - g("finished"), 0.0), g("raw"))
            prod = self._within_capacity(prod, g("demand_share"), float(g("capacity")[0]))
            act[al["production"]] = np.minimum(prod / self.scale, BOUND_MARGIN)
            R = self.review["raw"]
            level = self._level(fc, sigma, self.lead_s, R, self.k["raw"]) / self.yield_
            position = g("raw") + g("raw_in_transit") + g("supplier_backlog")
            need = np.maximum(level - position, 0.0) / self.scale
            act[al["raw_order"]] = self._release(node, "raw", need, (t - idx) % R == 0)
            act[al["route"].start] = 1.0
            act[al["negotiation"]] = self.negotiation
        else:
            fc, owed = g("forecast"), g("backlog_owed")
            sigma = node.sigma(fc, g("incoming_orders") if t > 0 else None)
            s_sup = self._level(fc, sigma, 0.0, 1, self.k["supplier"])
            prod = np.maximum(s_sup + owed - g("stock"), 0.0)
            prod = self._within_capacity(prod, g("demand_share"), float(g("capacity")[0]))
            act[al["production"]] = np.minimum(prod / self.scale, BOUND_MARGIN)
        return np.clip(act, 0.0, 1.0).astype(np.float32)

    @staticmethod
    def _within_capacity(prod: np.ndarray, share: np.ndarray, capacity: float) -> np.ndarray:
        """Scale requests (own days per product) down to the node's capacity (days of the
        node's mean demand; ``share`` converts products' days into it)."""
        load = float(prod @ share)
        cap = capacity * BOUND_MARGIN
        return prod * (cap / load) if load > cap else prod


class ThreeTierOrderUpTo(_Decentralised):
    """The founding paper's periodic review policy (PRP): every R days each retailer and each
    manufacturer (raw material) orders up to ``f (L + R) + z sigma sqrt(L + R)``; production is
    reviewed daily. Decentralised: every agent uses only its own observation."""

    info = PolicyInfo(name="order_up_to", version="1", paradigm="heuristic",
                      description="ThreeTier: periodic review (R = 4 days) order-up-to policy "
                                  "(PRP) per node and product, level f(L+R) + z sigma sqrt(L+R), "
                                  "z for 95 % service; decentralised.")

    def __init__(self, env: Any, review_period: int = 4, service_level: float = 0.95,
                 negotiation: float = DEFAULT_NEGOTIATION) -> None:
        if not 0.0 < float(service_level) < 1.0:
            raise ValueError(f"service_level must lie in (0, 1), got {service_level!r}")
        z = NormalDist().inv_cdf(float(service_level))
        R = int(review_period)
        super().__init__(env, review={"retailer": R, "raw": R},
                         k={"retailer": z, "finished": z, "raw": z, "supplier": z},
                         negotiation=negotiation)


def load_tuned(path: Path = PARAMS_FILE) -> dict[str, float]:
    """The tuned safety factors (and negotiation level) from ``base_stock_params.json``."""
    doc = json.loads(Path(path).read_text())
    return {k: float(v) for k, v in doc["k"].items()} | {"negotiation": float(doc["negotiation"])}


class ThreeTierBaseStock(_Decentralised):
    """Base stock per node and product, reviewed daily: level = mean lead-time demand + k sigma
    sqrt(L + 1), one safety factor k per tier tuned on training seeds (``tune.py``).
    Decentralised: every agent uses only its own observation."""

    info = PolicyInfo(name="base_stock", version="1", paradigm="optimization",
                      description="ThreeTier: daily base-stock per node and product, level "
                                  "f(L+1) + k sigma sqrt(L+1) with one safety factor per tier "
                                  "tuned by simulation on training seeds; decentralised.")

    def __init__(self, env: Any, k: Mapping[str, float] | None = None,
                 negotiation: float | None = None) -> None:
        tuned = load_tuned() if (k is None or negotiation is None) else {}
        ks = dict(k) if k is not None else {n: tuned[n] for n in ("retailer", "finished", "raw", "supplier")}
        missing = {"retailer", "finished", "raw", "supplier"} - set(ks)
        if missing:
            raise ValueError(f"safety factors missing for tiers {sorted(missing)}")
        nu = float(tuned["negotiation"]) if negotiation is None else float(negotiation)
        super().__init__(env, review={"retailer": 1, "raw": 1}, k=ks, negotiation=nu)


class FixedCoverPolicy:
    """Daily order-up-to with fixed covers, in days of each node's forecast: the env's former
    reference controller (``tasks.supply_chain.three_tier.OrderUpToPolicy``), moved here
    unchanged in behaviour so that the env module holds no policy.

    Why it is kept: the env's tests use it as "a competent policy" (it keeps every constraint
    in nominal conditions) and the speed benchmark as a cheap controller. Decentralised:

    * retailer: order ``retail_cover x forecast - (on hand + in transit + open orders)``, road;
    * manufacturer: produce ``owed + finished_cover x forecast - finished``, at most its raw
      stock, scaled down to capacity; order raw material up to ``raw_cover x forecast / (1 -
      mean defect rate)`` on its raw position, road; negotiation ``negotiation`` everywhere;
    * supplier: produce ``owed + supplier_cover x forecast - stock`` within capacity.
    """

    info = PolicyInfo(name="three_tier_fixed_cover", version="1", paradigm="heuristic",
                      description="ThreeTier: daily order-up-to with fixed covers in days of "
                                  "forecast (retail 7, finished 1, raw 8, supplier 2).")
    tasks = THREE_TIER_IDS

    def __init__(self, env: Any, retail_cover: float = 7.0, finished_cover: float = 1.0,
                 raw_cover: float = 8.0, supplier_cover: float = 2.0, negotiation: float = 0.25) -> None:
        base = getattr(env, "unwrapped", env)
        self.lay_o = {a: base.observation_layout(a) for a in base.possible_agents}
        self.lay_a = {a: base.action_layout(a) for a in base.possible_agents}
        self.scale = float(base.params["action_scale_days"])
        self.yield_ = 1.0 - float(base.params["defect_mean"])
        self.cover = {"retailer": retail_cover, "manufacturer": finished_cover, "supplier": supplier_cover}
        self.raw_cover, self.negotiation = raw_cover, negotiation

    def reset(self, seed: int) -> None:
        """Stateless and deterministic: nothing to do."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """One action per observed agent, from its own observation only."""
        return {a: self._one(a, np.asarray(o, dtype=np.float64)) for a, o in observations.items()}

    def _one(self, a: str, o: np.ndarray) -> np.ndarray:
        tier, _ = parse_agent(a)
        lay, al = self.lay_o[a], self.lay_a[a]
        x = {name: o[s] for name, s in lay.items()}
        act = np.zeros(max(s.stop for s in al.values()))
        if tier == "retailer":
            position = x["inventory"] + x["in_transit"] + x["upstream_backlog"]
            short = self.cover[tier] * x["forecast"] - position
            act[al["order"]] = np.maximum(short, 0.0) / self.scale
            act[al["route"].start] = 1.0
            return np.clip(act, 0.0, 1.0).astype(np.float32)
        on_hand = x["finished"] if tier == "manufacturer" else x["stock"]
        make = np.maximum(x["backlog_owed"] + self.cover[tier] * x["forecast"] - on_hand, 0.0)
        if tier == "manufacturer":
            make = np.minimum(make, x["raw"])
        load, cap = float(make @ x["demand_share"]), float(x["capacity"][0]) * 0.999
        if load > cap:
            make = make * (cap / load)
        act[al["production"]] = make / self.scale
        if tier == "manufacturer":
            position = x["raw"] + x["raw_in_transit"] + x["supplier_backlog"]
            target = self.raw_cover * x["forecast"] / self.yield_
            act[al["raw_order"]] = np.maximum(target - position, 0.0) / self.scale
            act[al["route"].start] = 1.0
            act[al["negotiation"]] = self.negotiation
        return np.clip(act, 0.0, 1.0).astype(np.float32)
