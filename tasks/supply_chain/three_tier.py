"""supply_chain/ThreeTier-v1: the founding paper's supplier -> manufacturer -> retailer network.

A discrete-event simulation in SimPy. Orders, production runs, shipments and deliveries are SimPy
events; one decision period is one day and ``step()`` runs the SimPy clock from day ``t`` to day
``t + 1``. Shipments carry a vector of quantities (all products of one lane on one route), so the
event count grows with lanes, not with units or products.

Timing inside day ``t`` (clock time in days):

* ``t + 0.00`` decisions take effect: retailers' and manufacturers' orders join the upstream
  node's backlog (order transmission is instantaneous), ordering costs are charged;
* ``t + 0.25`` suppliers produce raw material into stock and ship open backlogs;
* ``t + 0.50`` manufacturers convert raw material into finished goods (1:1) and ship open
  retailer backlogs, rationing proportionally to backlog when stock is short;
* ``t + 0.75`` retail customer demand arrives and is served from stock; unmet demand is lost;
* any time: shipments arrive after their sampled lead time (continuous, in days); defective raw
  units are discarded on receipt;
* ``t + 1.00`` end-of-day accounting (holding, overflow and backlog costs; KPI counters).

See ``docs/tasks/supply_chain.md`` (section ThreeTier-v1) for every action, observation and cost
with units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.env_base import RaoParallelEnv
from bench.params import check_integer, check_number, require
from bench.sim_engine import Daily, SimEngine
from bench.spec import EnvConfig, thaw
from tasks.supply_chain.demand import DemandModel, latent_noise
from tasks.supply_chain.forecast import Forecaster
from tasks.supply_chain.network import Network, build_network, parse_agent
from tasks.supply_chain.pearson4 import PearsonIV

KPI_COUNTERS = ("holding_cost", "backorder_cost", "ordering_cost", "production_cost",
                "transport_cost", "total_cost", "demand", "filled", "orders", "cogs",
                "inventory_value", "used_capacity", "available_capacity")
COST_PARTS = ("holding_cost", "backorder_cost", "ordering_cost", "production_cost", "transport_cost")
SHIFT_KINDS = ("demand_shock", "supplier_outage", "lead_time_surge", "seasonal_regime")
SUPPLY, DISTRIBUTION = 0, 1  # shipment kinds
N_TIME_FEATURES = 5


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
def _get(params: Mapping[str, Any], key: str) -> Any:
    return require(params, key, "ThreeTier-v1", "tasks/supply_chain/specs/ThreeTier-v1.yaml")


def _num(params: Mapping[str, Any], key: str, lo: float = 0.0, hi: float = math.inf, *,
         strict_lo: bool = False) -> float:
    """A finite float parameter in [lo, hi] (or (lo, hi] when ``strict_lo``)."""
    return check_number(key, _get(params, key), lo, hi, strict_lo=strict_lo)


def _int(params: Mapping[str, Any], key: str, lo: int = 0) -> int:
    return check_integer(key, _get(params, key), lo)


def _tiered(params: Mapping[str, Any], key: str, tiers: tuple[str, ...], lo: float = 0.0,
            strict_lo: bool = False) -> dict[str, float]:
    raw = _get(params, key)
    if not isinstance(raw, Mapping) or set(raw) != set(tiers):
        raise ValueError(f"parameter {key!r} must be a mapping with exactly the keys {list(tiers)}, "
                         f"got {thaw(raw)!r}")
    return {t: _num({f"{key}.{t}": raw[t]}, f"{key}.{t}", lo, strict_lo=strict_lo) for t in tiers}


@dataclass(frozen=True)
class Route:
    """A transport mode on a lane: nominal lead time (days, mean and s.d.) and cost per unit."""

    name: str
    lead_time_mean: float
    lead_time_sd: float
    cost_per_unit: float


def _routes(params: Mapping[str, Any], key: str) -> tuple[Route, ...]:
    raw = _get(params, key)
    if not isinstance(raw, (list, tuple)) or len(raw) < 2:
        raise ValueError(f"parameter {key!r} must list at least 2 routes "
                         "(each {name, lead_time_mean, lead_time_sd, cost_per_unit})")
    out = []
    for i, r in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(r, Mapping):
            raise ValueError(f"{where} must be a mapping with name, lead_time_mean, lead_time_sd, "
                             "cost_per_unit")
        out.append(Route(str(_get(r, "name")),
                         _num({f"{where}.lead_time_mean": _get(r, "lead_time_mean")},
                              f"{where}.lead_time_mean", 0.0, strict_lo=True),
                         _num({f"{where}.lead_time_sd": _get(r, "lead_time_sd")}, f"{where}.lead_time_sd"),
                         _num({f"{where}.cost_per_unit": _get(r, "cost_per_unit")},
                              f"{where}.cost_per_unit")))
    return tuple(out)


@dataclass(frozen=True)
class Params:
    """Validated, typed view of the spec's ``parameters`` (units in each field's comment)."""

    n_suppliers: int
    n_manufacturers: int
    n_retailers: int
    n_products: int
    start_day: int                       # calendar day of year of day 0
    history_days: int                    # demand history used to warm-start the forecasters
    demand: Mapping[str, Any]            # keyword arguments of DemandModel.draw
    retailer_size_sd: float              # log-s.d. of retailer size factors (demand scale)
    action_scale_days: float             # a quantity action of 1 = this many days of mean demand
    capacity_factor: dict[str, float]    # capacity / mean daily demand served (supplier, manufacturer)
    storage_days: dict[str, float]       # storage capacity in days of mean demand (per tier)
    initial_days: dict[str, float]       # initial stock in days of mean demand (per stock kind)
    unit_value: dict[str, float]         # $/unit (raw, finished)
    holding_cost: dict[str, float]       # $/unit/day per stock kind
    overflow_cost: float                 # $/unit/day extra for units beyond storage capacity
    lost_sale_cost: float                # $/unit of retail demand not filled
    backlog_cost: float                  # $/unit/day of open business-to-business orders
    order_cost: float                    # $ per order (one node, one upstream node, one day)
    production_cost: dict[str, float]    # $/unit produced (supplier, manufacturer)
    routes_supply: tuple[Route, ...]
    routes_distribution: tuple[Route, ...]
    lead_time_skewness: float
    lead_time_excess_kurtosis: float
    min_lead_time: float                 # days; lead-time draws are floored here
    defect_mean: float                   # mean defect rate (fraction) at negotiation 0
    defect_sd: float
    defect_skewness: float
    defect_excess_kurtosis: float
    negotiation_premium: float           # extra $/unit at negotiation 1, as a share of raw value
    negotiation_lead_mean_cut: float     # relative cut of lead-time mean at negotiation 1
    negotiation_lead_sd_cut: float       # relative cut of lead-time s.d. at negotiation 1
    negotiation_defect_cut: float        # relative cut of defect-rate mean and s.d. at negotiation 1
    reliability_smoothing: float         # EWMA weight of the newest delivery in reliability scores
    service_window: int                  # days in the rolling delivery rate
    forecast_horizon: int                # days averaged in the forecast observation
    forecast_season: int                 # season length of the forecaster (days)
    service_weight: float                # reward weight of the daily delivery rate
    # $/unit/day on stock in transit (raw to manufacturers, finished to retailers); v1 has none
    transit_holding_cost: dict[str, float] | None = None

    @classmethod
    def from_mapping(cls, p: Mapping[str, Any]) -> "Params":
        tiers2 = ("supplier", "manufacturer")
        tiers3 = ("supplier", "manufacturer", "retailer")
        stocks = ("supplier", "manufacturer_raw", "manufacturer_finished", "retailer")
        demand = _get(p, "demand")
        if not isinstance(demand, Mapping):
            raise ValueError("parameter 'demand' must be a mapping of DemandModel.draw arguments")
        values = _tiered(p, "unit_value", ("raw", "finished"), strict_lo=True)
        out = cls(
            n_suppliers=_int(p, "n_suppliers", 1), n_manufacturers=_int(p, "n_manufacturers", 1),
            n_retailers=_int(p, "n_retailers", 1), n_products=_int(p, "n_products", 1),
            start_day=_int(p, "start_day", 0), history_days=_int(p, "history_days", 0),
            demand=demand, retailer_size_sd=_num(p, "retailer_size_sd", 0.0, 2.0),
            action_scale_days=_num(p, "action_scale_days", 0.0, strict_lo=True),
            capacity_factor=_tiered(p, "capacity_factor", tiers2, strict_lo=True),
            storage_days=_tiered(p, "storage_days", tiers3),
            initial_days=_tiered(p, "initial_days", stocks),
            unit_value=values,
            holding_cost=_tiered(p, "holding_cost", stocks),
            overflow_cost=_num(p, "overflow_cost"), lost_sale_cost=_num(p, "lost_sale_cost"),
            backlog_cost=_num(p, "backlog_cost"), order_cost=_num(p, "order_cost"),
            production_cost=_tiered(p, "production_cost", tiers2),
            routes_supply=_routes(p, "routes_supply"),
            routes_distribution=_routes(p, "routes_distribution"),
            lead_time_skewness=_num(p, "lead_time_skewness", -math.inf),
            lead_time_excess_kurtosis=_num(p, "lead_time_excess_kurtosis", -math.inf),
            min_lead_time=_num(p, "min_lead_time", 0.0, strict_lo=True),
            defect_mean=_num(p, "defect_mean", 0.0, 1.0), defect_sd=_num(p, "defect_sd", 0.0, 1.0),
            defect_skewness=_num(p, "defect_skewness", -math.inf),
            defect_excess_kurtosis=_num(p, "defect_excess_kurtosis", -math.inf),
            negotiation_premium=_num(p, "negotiation_premium"),
            negotiation_lead_mean_cut=_num(p, "negotiation_lead_mean_cut", 0.0, 0.95),
            negotiation_lead_sd_cut=_num(p, "negotiation_lead_sd_cut", 0.0, 1.0),
            negotiation_defect_cut=_num(p, "negotiation_defect_cut", 0.0, 1.0),
            reliability_smoothing=_num(p, "reliability_smoothing", 0.0, 1.0, strict_lo=True),
            service_window=_int(p, "service_window", 1),
            forecast_horizon=_int(p, "forecast_horizon", 1),
            forecast_season=_int(p, "forecast_season", 1),
            service_weight=_num(p, "service_weight"),
            transit_holding_cost=(_tiered(p, "transit_holding_cost", ("raw", "finished"))
                                  if "transit_holding_cost" in p else None),
        )
        if 0 < out.history_days < 2 * out.forecast_season:
            raise ValueError(f"history_days ({out.history_days}) must be 0 or at least 2 * "
                             f"forecast_season ({2 * out.forecast_season}) to warm-start the forecasters")
        if len(out.routes_supply) != len(out.routes_distribution):
            raise ValueError("routes_supply and routes_distribution must list the same number of "
                             "routes (the route-priority action has one weight per route)")
        return out


# ---------------------------------------------------------------------------------------------
# Shift scenarios
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shift:
    """A held-out shift (``scenario.shift`` in the spec) resolved to day windows [onset, end)."""

    kind: str
    onset: int
    end: int
    factor: float = 1.0          # demand_shock: demand multiplier; lead_time_surge: lead-time factor
    supplier: int = 0            # supplier_outage: which supplier stops
    weekly_shift: int = 0        # seasonal_regime: days by which the weekly peak moves
    annual_amplitude: float = 1.0  # seasonal_regime: factor on the annual amplitude
    annual_phase_shift: int = 0  # seasonal_regime: days by which the annual peak moves

    def active(self, day: int) -> bool:
        return self.onset <= day < self.end

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None, horizon: int, n_suppliers: int) -> "Shift | None":
        if raw is None:
            return None
        kind = str(raw.get("kind"))
        if kind not in SHIFT_KINDS:
            raise ValueError(f"scenario shift.kind {kind!r} is unknown; use one of {SHIFT_KINDS}")
        onset = int(raw["onset"])
        duration = raw.get("duration")
        end = horizon if duration is None else onset + int(duration)
        if duration is not None and int(duration) < 1:
            raise ValueError(f"shift.duration must be >= 1 day, got {duration!r}")
        supplier = int(raw.get("supplier", 0))
        if kind == "supplier_outage" and not 0 <= supplier < n_suppliers:
            raise ValueError(f"shift.supplier must be in [0, {n_suppliers}), got {supplier}")
        factor = float(raw.get("factor", 1.0))
        if factor <= 0:
            raise ValueError(f"shift.factor must be > 0, got {factor}")
        return cls(kind, onset, end, factor=factor, supplier=supplier,
                   weekly_shift=int(raw.get("weekly_shift", 0)),
                   annual_amplitude=float(raw.get("annual_amplitude", 1.0)),
                   annual_phase_shift=int(raw.get("annual_phase_shift", 0)))


# ---------------------------------------------------------------------------------------------
# The environment
# ---------------------------------------------------------------------------------------------
class ThreeTierEnv(RaoParallelEnv):
    """Supplier -> manufacturer -> retailer network; one agent per node (see module docstring).

    Actions are ``Box(0, 1)`` vectors (values outside are clipped, NaN is rejected). A *quantity*
    entry ``a`` means ``a * action_scale_days * mu`` units, where ``mu`` is the acting node's mean
    daily demand for that product, so that one policy fits products of any volume:

    * ``retailer_k``: [order per product (P), route weights (K)];
    * ``manufacturer_j``: [production request per own product (n_j), raw-material order per own
      product (n_j), route weights (K), negotiation level per supplier (S)];
    * ``supplier_i``: [production request per own product (n_i)].

    Route weights are normalised to shares of each inbound shipment (all zero = equal shares).
    """

    #: tiers whose production counts in the capacity_utilisation KPI (v1: manufacturers only)
    utilisation_tiers: tuple[str, ...] = ("manufacturer",)

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        self.p = Params.from_mapping(self.params)
        p = self.p
        self.net: Network = build_network(p.n_suppliers, p.n_manufacturers, p.n_retailers, p.n_products)
        self.possible_agents = list(self.net.agents)
        self.shift = Shift.from_spec(config.scenario.shift, self.horizon, p.n_suppliers)
        bound = {c.name: c.bound for c in config.spec.constraints}
        self.service_bound = float(bound.get("service_level_floor", 0.0))
        self.n_routes = len(p.routes_supply)
        lt = dict(skewness=p.lead_time_skewness, kurtosis=p.lead_time_excess_kurtosis)
        df = dict(skewness=p.defect_skewness, kurtosis=p.defect_excess_kurtosis)
        try:
            # standardised (mean 0, variance 1) laws; each draw is rescaled by its own mean/s.d.
            self._lead_z = PearsonIV.from_moments(0.0, 1.0, **lt)
            self._defect_z = PearsonIV.from_moments(0.0, 1.0, **df)
        except ValueError as exc:
            raise ValueError(f"lead_time_* or defect_* shape parameters: {exc}") from None
        self._tier_of = {a: parse_agent(a) for a in self.possible_agents}
        # static incidence of the network, used to aggregate per-product arrays per node and lane
        P, M = self.net.n_products, self.net.n_manufacturers
        self._onehot_pm = np.zeros((P, M), np.int64)
        self._onehot_pm[np.arange(P), self.net.product_manufacturer] = 1
        self._lane_of_p = np.empty(P, np.int64)
        for k, link in enumerate(self.net.supply_links):
            self._lane_of_p[link.products] = k
        self._lane_buyer = np.array([link.downstream for link in self.net.supply_links], np.int64)
        self._index_layouts()
        self._build_spaces()
        self._demand_model: Any = None

    # -- layout --------------------------------------------------------------------------------
    def _index_layouts(self) -> None:
        net, K, S, M = self.net, self.n_routes, self.net.n_suppliers, self.net.n_manufacturers
        P = net.n_products
        self._act_layout: dict[str, dict[str, slice]] = {}
        self._obs_layout: dict[str, dict[str, slice]] = {}

        def lay(blocks: list[tuple[str, int]]) -> dict[str, slice]:
            out, i = {}, 0
            for name, n in blocks:
                out[name] = slice(i, i + n)
                i += n
            return out

        for a in self.possible_agents:
            tier, i = self._tier_of[a]
            if tier == "supplier":
                n = len(net.supplier_products[i])
                self._act_layout[a] = lay([("production", n)])
                self._obs_layout[a] = lay([("stock", n), ("backlog_owed", n), ("forecast", n),
                                           ("incoming_orders", n), ("downstream_raw", n),
                                           ("demand_share", n), ("capacity", 1), ("utilisation", 1),
                                           ("storage_use", 1), ("time", N_TIME_FEATURES)])
            elif tier == "manufacturer":
                n = len(net.manufacturer_products[i])
                self._act_layout[a] = lay([("production", n), ("raw_order", n), ("route", K),
                                           ("negotiation", S)])
                self._obs_layout[a] = lay([("finished", n), ("raw", n), ("raw_in_transit", n),
                                           ("supplier_backlog", n), ("backlog_owed", n), ("forecast", n),
                                           ("incoming_orders", n), ("demand_share", n),
                                           ("reliability", S), ("capacity", 1), ("utilisation", 1),
                                           ("storage_use", 1), ("time", N_TIME_FEATURES)])
            else:
                self._act_layout[a] = lay([("order", P), ("route", K)])
                self._obs_layout[a] = lay([("inventory", P), ("in_transit", P), ("upstream_backlog", P),
                                           ("forecast", P), ("last_demand", P), ("reliability", M),
                                           ("storage_use", 1), ("delivery_rate", 1),
                                           ("time", N_TIME_FEATURES)])

    def action_layout(self, agent: str) -> dict[str, slice]:
        """Named slices of ``agent``'s action vector (documented in the class docstring)."""
        return dict(self._act_layout[agent])

    def observation_layout(self, agent: str) -> dict[str, slice]:
        """Named slices of ``agent``'s observation vector (units in docs/tasks/supply_chain.md)."""
        return dict(self._obs_layout[agent])

    def _build_spaces(self) -> None:
        self._action_spaces = {}
        self._observation_spaces = {}
        for a in self.possible_agents:
            n_act = max(s.stop for s in self._act_layout[a].values())
            self._action_spaces[a] = spaces.Box(0.0, 1.0, shape=(n_act,), dtype=np.float32)
            lay = self._obs_layout[a]
            n_obs = max(s.stop for s in lay.values())
            low = np.zeros(n_obs, dtype=np.float32)
            high = np.full(n_obs, np.inf, dtype=np.float32)
            t = lay["time"]
            low[t.start:t.start + 4] = -1.0
            high[t.start:t.stop] = 1.0
            for name in ("reliability", "delivery_rate", "demand_share"):
                if name in lay:
                    high[lay[name]] = 1.0
            self._observation_spaces[a] = spaces.Box(low, high, dtype=np.float32)

    # -- reset -----------------------------------------------------------------------------------
    def _reset_sim(self) -> None:
        # Independent sub-streams spawned from the env's Generator: a shift scenario then changes
        # only the draws it must (e.g. demand after onset), so scenarios share common random
        # numbers with the nominal run up to the onset.
        seeds = self.np_random.integers(0, 2**63 - 1, size=4)
        self._rng_demand, self._rng_lead, self._rng_defect, self._rng_model = (
            np.random.Generator(np.random.PCG64(int(s))) for s in seeds)
        self._future_from: int | None = None      # perturb_future: day from which draws are redrawn
        self._draw_demand()
        self._init_state()

    def _unit_demand(self) -> np.ndarray:
        """mu (R, P), units/day: the unit of every quantity action and observation, capacities
        and storage. v1 uses the mean of the episode's whole mean-demand path, which includes the
        future (the foresight leak ThreeTier-v2 removes; ``tests/supply_chain/test_no_foresight.py``)."""
        R, P = self.net.n_retailers, self.net.n_products
        return np.maximum(self._nominal_mean.mean(axis=0).reshape(R, P), 1e-6)

    def _init_state(self) -> None:
        """Everything reset derives from the drawn demand: units, capacities, initial stock,
        forecasters and the SimPy clock. Draws no random numbers (``perturb_future`` re-runs it)."""
        p, net = self.p, self.net
        R, P, S, M = net.n_retailers, net.n_products, net.n_suppliers, net.n_manufacturers
        self._mu_rp = self._unit_demand()
        mu_rp = self._mu_rp                       # (R, P) units/day
        mu_p = mu_rp.sum(axis=0)                  # (P,) units/day through the upper tiers
        self._mu_p = mu_p
        self._mu_s = np.bincount(net.product_supplier, mu_p, minlength=S)
        self._mu_m = np.bincount(net.product_manufacturer, mu_p, minlength=M)
        self.cap_s = p.capacity_factor["supplier"] * self._mu_s
        self.cap_m = p.capacity_factor["manufacturer"] * self._mu_m
        self.storage_s = p.storage_days["supplier"] * self._mu_s
        self.storage_m = p.storage_days["manufacturer"] * self._mu_m
        self.storage_r = p.storage_days["retailer"] * mu_rp.sum(axis=1)
        self._cost_scale = float(mu_p.sum() * p.unit_value["finished"])

        init = p.initial_days
        # stock arrays (int64 units); each product has exactly one supplier and one manufacturer,
        # so the upper tiers' arrays are indexed by product alone
        self.sup_stock = np.rint(init["supplier"] * mu_p).astype(np.int64)
        self.sup_backlog = np.zeros(P, np.int64)           # raw units owed to m(p)
        self.raw_transit = np.zeros(P, np.int64)           # raw units on the way to m(p)
        self.mfr_raw = np.rint(init["manufacturer_raw"] * mu_p).astype(np.int64)
        self.mfr_fin = np.rint(init["manufacturer_finished"] * mu_p).astype(np.int64)
        self.mfr_backlog = np.zeros((R, P), np.int64)      # finished units owed to retailer r
        self.fin_transit = np.zeros((R, P), np.int64)
        self.ret_inv = np.rint(init["retailer"] * mu_rp).astype(np.int64)
        self.ledger = {
            "supplier_initial": self.sup_stock.copy(), "raw_initial": self.mfr_raw.copy(),
            "raw_produced": np.zeros(P, np.int64),
            "raw_discarded": np.zeros(P, np.int64), "raw_consumed": np.zeros(P, np.int64),
            "raw_shipped": np.zeros(P, np.int64),
            "fin_initial": self.mfr_fin + self.ret_inv.sum(axis=0), "fin_shipped": np.zeros(P, np.int64),
            "sold": np.zeros(P, np.int64),
        }
        # decisions in force (defaults until the first step)
        K = self.n_routes
        self._route_w_m = np.zeros((M, K))
        self._route_w_m[:, 0] = 1.0
        self._route_w_r = np.zeros((R, K))
        self._route_w_r[:, 0] = 1.0
        self._nego = np.zeros((M, S))
        self._req_s = np.zeros(P)
        self._req_m = np.zeros(P)
        # reliability: EWMA of on-time rate and of defect rate, per buyer and seller
        self.rel_on_time_ms = np.ones((M, S))
        self.rel_defect_ms = np.full((M, S), p.defect_mean)
        self.rel_on_time_rm = np.ones((R, M))
        # rolling service and observations of the last day
        self._svc_demand = np.zeros((p.service_window, R))
        self._svc_filled = np.zeros((p.service_window, R))
        self._last_demand = np.zeros((R, P))
        self._in_orders_m = np.zeros(P)
        self._in_orders_s = np.zeros(P)
        self._util_s = np.zeros(S)
        self._util_m = np.zeros(M)
        self._rolling_rate = np.ones(R)
        self.shipment_log: list[tuple[int, int, int, float, float, int, int]] = []
        self._warm_forecasters()
        # the discrete-event engine and the tiers' daily operations (event callbacks that schedule
        # exactly what SimPy processes would, so that the env pickles: bench/sim_engine.py)
        self.sim = SimEngine()
        Daily(self.sim, 0.25, self._supplier_operations)
        Daily(self.sim, 0.50, self._manufacturer_operations)
        Daily(self.sim, 0.75, self._retail_demand)

    def _draw_demand(self) -> None:
        """Draw the episode's demand model and realise its demand paths.

        Each retailer sells every product; its demand for product ``p`` follows the product's
        seasonal model (``DemandModel``) scaled by a retailer size factor (lognormal, mean 1),
        with its own noise. The nominal mean, ``mu``, fixes the units of every quantity action
        and observation for the whole episode, also under shifts (so actions keep their meaning).
        A shift enters only as a multiplier path on the mean from its onset, inside one
        ``generate`` call, so every draw before the onset is identical to the nominal run.
        """
        p, R, P, T = self.p, self.net.n_retailers, self.net.n_products, self.horizon
        product = DemandModel.draw(P, self._rng_model, **thaw(p.demand))
        size = np.exp(p.retailer_size_sd * self._rng_model.standard_normal(R)
                      - 0.5 * p.retailer_size_sd ** 2)
        model = _per_retailer(product, size)                    # R * P columns, retailer-major
        self._demand_model = model
        nominal_mean = model.mean(T, p.start_day)              # (T, R*P)
        self._product, self._size, self._nominal_mean = product, size, nominal_mean
        H = p.history_days
        self._history = (model.generate(H, p.start_day - H, self._rng_demand).reshape(H, R, P)
                         if H > 0 else np.zeros((0, R, P), np.int64))
        mult = self._shift_multiplier(product, size, nominal_mean)
        self._mult = mult
        self._demand_mean = (nominal_mean if mult is None else nominal_mean * mult).reshape(T, R, P)
        self.demand = model.generate(T, p.start_day, self._rng_demand,
                                     multiplier=mult).reshape(T, R, P).astype(np.int64)

    def _shift_multiplier(self, product: DemandModel, size: np.ndarray,
                          nominal_mean: np.ndarray) -> np.ndarray | None:
        """Demand multiplier path (T, R*P) of a demand shift, or None (no demand shift)."""
        sh, T, p = self.shift, self.horizon, self.p
        if sh is None or sh.kind not in ("demand_shock", "seasonal_regime"):
            return None
        mult = np.ones_like(nominal_mean)
        if sh.kind == "demand_shock":
            mult[sh.onset:sh.end] = sh.factor
            return mult
        amp = np.clip(product.annual_amplitude * sh.annual_amplitude, 0.0, 1.0)
        regime = replace(product, weekly=np.roll(product.weekly, sh.weekly_shift, axis=1),
                         annual_amplitude=amp,
                         annual_peak_day=product.annual_peak_day + sh.annual_phase_shift)
        shifted = _per_retailer(regime, size).mean(T, p.start_day)
        ratio = np.where(nominal_mean > 0, shifted / np.maximum(nominal_mean, 1e-300), 1.0)
        mult[sh.onset:sh.end] = ratio[sh.onset:sh.end]
        return mult

    def perturb_future(self, t0: int, seed: int) -> None:
        """Redraw every exogenous random quantity realised after the observation at step ``t0``
        (``bench.checks.check_no_foresight``); call right after ``reset``.

        Redrawn from a Generator seeded by ``seed``: the annual seasonal cycle of days ``>= t0``
        (amplitude and peak day are unknown to a controller until it lives through them), the
        latent demand noise and the Poisson counts of days ``>= t0``, and the lead time and
        defects of every shipment dispatched on a day ``>= t0``. Then everything reset derives
        from the demand is derived again, as if the episode had been drawn this way.
        """
        T = self.horizon
        if not 0 <= t0 < T:
            raise ValueError(f"perturb_future: t0 must lie in [0, {T}), got {t0}")
        if self.t != 0:
            raise RuntimeError("perturb_future must be called right after reset()")
        p, R, P = self.p, self.net.n_retailers, self.net.n_products
        rng = np.random.Generator(np.random.PCG64(seed))
        fresh = DemandModel.draw(P, rng, **thaw(p.demand))
        future = replace(self._product, annual_amplitude=fresh.annual_amplitude,
                         annual_peak_day=fresh.annual_peak_day)
        nominal = self._nominal_mean.copy()
        nominal[t0:] = _per_retailer(future, self._size).mean(T, p.start_day)[t0:]
        self._nominal_mean = nominal
        mean = nominal if self._mult is None else nominal * self._mult
        self._demand_mean = mean.reshape(T, R, P)
        demand = self.demand.copy()
        demand[t0:] = self._redraw_demand(t0, mean[t0:], rng).reshape(T - t0, R, P)
        self.demand = demand
        self._rng_lead_future, self._rng_defect_future = (
            np.random.Generator(np.random.PCG64(int(s))) for s in rng.integers(0, 2**63 - 1, size=2))
        self._future_from = t0
        self._init_state()

    def _redraw_demand(self, t0: int, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Demand (T - t0, R*P) of days ``>= t0`` around ``mean``. v1 drew the episode as one
        stationary stretch of its own, so its redraw is a fresh stationary stretch too."""
        model = self._demand_model
        eta = latent_noise(rng.standard_normal(mean.shape), model.ar1)
        return model.realise(mean, eta, rng)

    def _shipment_rngs(self) -> tuple[np.random.Generator, np.random.Generator]:
        """(lead-time, defect) Generators for today's shipments: the redrawn ones from the day
        ``perturb_future`` names on, the episode's own before."""
        if self._future_from is not None and self.t >= self._future_from:
            return self._rng_lead_future, self._rng_defect_future
        return self._rng_lead, self._rng_defect

    def _warm_forecasters(self) -> None:
        p, net = self.p, self.net
        R, P = net.n_retailers, net.n_products
        hist = self._history.astype(np.float64)                 # (H, R, P)
        self.fc_retail = Forecaster(R * P, season=p.forecast_season)
        self.fc_mfr = Forecaster(P, season=p.forecast_season)
        self.fc_sup = Forecaster(P, season=p.forecast_season)
        if len(hist):
            self.fc_retail.warm_start(hist.reshape(len(hist), R * P))
            # before day 0 the upper tiers saw orders equal to the downstream demand
            self.fc_mfr.warm_start(hist.sum(axis=1))
            self.fc_sup.warm_start(hist.sum(axis=1))
        self._refresh_forecasts()

    def _refresh_forecasts(self) -> None:
        h = self.p.forecast_horizon
        R, P = self.net.n_retailers, self.net.n_products
        self._fc_r = np.maximum(self.fc_retail.forecast(h).mean(axis=0), 0.0).reshape(R, P)
        self._fc_m = np.maximum(self.fc_mfr.forecast(h).mean(axis=0), 0.0)
        self._fc_s = np.maximum(self.fc_sup.forecast(h).mean(axis=0), 0.0)

    # -- actions ---------------------------------------------------------------------------------
    def _parse_actions(self, actions: Mapping[str, Any]) -> None:
        p, net = self.p, self.net
        scale = p.action_scale_days
        R, P = net.n_retailers, net.n_products
        checked = {}
        for a in self.possible_agents:        # validate everything before changing any state
            raw = np.asarray(actions[a], dtype=np.float64).reshape(-1)
            lay = self._act_layout[a]
            n = max(s.stop for s in lay.values())
            if raw.shape != (n,):
                raise ValueError(f"action of {a!r} has {raw.size} entries; expected {n} "
                                 f"(layout {[(k, s.stop - s.start) for k, s in lay.items()]})")
            if not np.all(np.isfinite(raw)):
                raise ValueError(f"action of {a!r} contains NaN or inf; pass finite values in [0, 1]")
            checked[a] = np.clip(raw, 0.0, 1.0)
        self._order_r = np.zeros((R, P), np.int64)
        self._order_m = np.zeros(P, np.int64)
        for a, act in checked.items():
            lay = self._act_layout[a]
            tier, i = self._tier_of[a]
            if tier == "supplier":
                prods = net.supplier_products[i]
                self._req_s[prods] = act[lay["production"]] * scale * self._mu_p[prods]
            elif tier == "manufacturer":
                prods = net.manufacturer_products[i]
                self._req_m[prods] = act[lay["production"]] * scale * self._mu_p[prods]
                self._order_m[prods] = np.floor(act[lay["raw_order"]] * scale * self._mu_p[prods] + 0.5)
                self._route_w_m[i] = _shares(act[lay["route"]])
                self._nego[i] = act[lay["negotiation"]]
            else:
                self._order_r[i] = np.floor(act[lay["order"]] * scale * self._mu_rp[i] + 0.5)
                self._route_w_r[i] = _shares(act[lay["route"]])

    # -- one day ---------------------------------------------------------------------------------
    def _step_sim(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict]:
        p, net = self.p, self.net
        S, M, R, P = net.n_suppliers, net.n_manufacturers, net.n_retailers, net.n_products
        self._parse_actions(actions)
        self._day = {
            "prod_cost_s": np.zeros(S), "prod_cost_m": np.zeros(M),
            "transport_m": np.zeros(M), "transport_r": np.zeros(R),
            "over_s": np.zeros(S), "over_m": np.zeros(M), "produced_m": np.zeros(M),
            "demand_r": np.zeros(R), "filled_r": np.zeros(R), "lost_r": np.zeros(R),
        }
        # t + 0.00: orders join the upstream backlogs
        self.mfr_backlog += self._order_r
        self.sup_backlog += self._order_m
        # one order = one node's non-empty order to one upstream node on one day
        n_orders_r = (self._order_r @ self._onehot_pm > 0).sum(axis=1)
        lane_units = np.bincount(self._lane_of_p, self._order_m, minlength=len(net.supply_links))
        n_orders_m = np.bincount(self._lane_buyer, lane_units > 0, minlength=M)
        self._in_orders_m = self._order_r.sum(axis=0).astype(np.float64)
        self._in_orders_s = self._order_m.astype(np.float64)
        # t + 0.25 ... t + 1.00: the discrete-event part
        self.sim.run(until=self.t + 1)
        # end of day accounting
        self.fc_retail.update(self.demand[self.t].reshape(R * P).astype(np.float64))
        self.fc_mfr.update(self._in_orders_m)
        self.fc_sup.update(self._in_orders_s)
        self._refresh_forecasts()
        return self._account(n_orders_r, n_orders_m)

    def _supplier_operations(self) -> None:
        """t + 0.25: suppliers produce into stock (capacity-limited) and ship open backlogs."""
        p, net, d = self.p, self.net, self._day
        S = net.n_suppliers
        req = self._req_s
        total = np.bincount(net.product_supplier, req, minlength=S)
        d["over_s"] = np.maximum(total - self.cap_s, 0.0)
        factor = np.where(total > self.cap_s, self.cap_s / np.maximum(total, 1e-12), 1.0)
        produced = np.floor(req * factor[net.product_supplier] + 1e-9).astype(np.int64)
        down = np.zeros(S, bool)
        if self.shift is not None and self.shift.kind == "supplier_outage" and self.shift.active(self.t):
            down[self.shift.supplier] = True
        produced[down[net.product_supplier]] = 0
        d["produced_s"] = np.bincount(net.product_supplier, produced, minlength=S).astype(np.float64)
        self._util_s = d["produced_s"] / np.maximum(self.cap_s, 1e-12)
        self.sup_stock += produced
        self.ledger["raw_produced"] += produced
        d["prod_cost_s"] = p.production_cost["supplier"] * np.bincount(net.product_supplier, produced,
                                                                       minlength=S)
        ship = np.minimum(self.sup_stock, self.sup_backlog)
        ship[down[net.product_supplier]] = 0
        self.sup_stock -= ship
        self.sup_backlog -= ship
        self.ledger["raw_shipped"] += ship
        self._dispatch(SUPPLY, ship)

    def _manufacturer_operations(self) -> None:
        """t + 0.50: manufacturers convert raw material (capacity-limited) and ship to retailers."""
        p, net, d = self.p, self.net, self._day
        M = net.n_manufacturers
        req = self._req_m
        total = np.bincount(net.product_manufacturer, req, minlength=M)
        d["over_m"] = np.maximum(total - self.cap_m, 0.0)
        factor = np.where(total > self.cap_m, self.cap_m / np.maximum(total, 1e-12), 1.0)
        produced = np.minimum(np.floor(req * factor[net.product_manufacturer] + 1e-9).astype(np.int64),
                              self.mfr_raw)
        self.mfr_raw -= produced
        self.mfr_fin += produced
        self.ledger["raw_consumed"] += produced
        used = np.bincount(net.product_manufacturer, produced, minlength=M)
        d["produced_m"] = used
        self._util_m = used / np.maximum(self.cap_m, 1e-12)
        d["prod_cost_m"] = p.production_cost["manufacturer"] * used
        # ship: all backlogs if stock suffices, else proportional rationing (rounded down)
        owed = self.mfr_backlog.sum(axis=0)
        ratio = np.where(owed > self.mfr_fin, self.mfr_fin / np.maximum(owed, 1), 1.0)
        ship = np.floor(self.mfr_backlog * ratio[None, :] + 1e-9).astype(np.int64)
        ship = np.minimum(ship, self.mfr_backlog)
        self.mfr_fin -= ship.sum(axis=0)
        self.mfr_backlog -= ship
        self.ledger["fin_shipped"] += ship.sum(axis=0)
        self._dispatch(DISTRIBUTION, ship)

    def _retail_demand(self) -> None:
        """t + 0.75: customers arrive; demand is filled from stock, the rest is lost."""
        d = self._day
        dem = self.demand[self.t]
        filled = np.minimum(dem, self.ret_inv)
        self.ret_inv -= filled
        self.ledger["sold"] += filled.sum(axis=0)
        self._last_demand = dem
        d["demand_r"] = dem.sum(axis=1).astype(np.float64)
        d["filled_r"] = filled.sum(axis=1).astype(np.float64)
        d["lost_r"] = d["demand_r"] - d["filled_r"]

    # -- shipments ---------------------------------------------------------------------------------
    def _dispatch(self, kind: int, ship: np.ndarray) -> None:
        """Split today's shipments over routes (receiver's route shares) and schedule one arrival
        event per lane and route that carries anything.

        ``ship`` is (P,) raw units for SUPPLY (lane = the product's supplier -> manufacturer) or
        (R, P) finished units for DISTRIBUTION (lane = the product's manufacturer -> retailer).
        Splitting, costs and pipelines are vectorised over the whole tier; only the events are
        created one by one.
        """
        p, net, d = self.p, self.net, self._day
        K = self.n_routes
        if kind == SUPPLY:
            links, routes = net.supply_links, p.routes_supply
            parts = _split(ship, self._route_w_m[net.product_manufacturer])         # (K, P)
            lane_of = self._lane_of_p
            units = np.stack([np.bincount(lane_of, parts[r], minlength=len(links)) for r in range(K)])
            self.raw_transit += ship
            cost = sum(rt.cost_per_unit * parts[r] for r, rt in enumerate(routes))
            d["transport_m"] += np.bincount(net.product_manufacturer, cost, minlength=net.n_manufacturers)
            lanes = [(r, k) for r, k in zip(*np.nonzero(units))]
        else:
            links, routes = net.distribution_links, p.routes_distribution
            parts = _split(ship, self._route_w_r)                                   # (K, R, P)
            units = parts @ self._onehot_pm                                        # (K, R, M)
            self.fin_transit += ship
            d["transport_r"] += sum(rt.cost_per_unit * parts[r].sum(axis=1) for r, rt in enumerate(routes))
            R = net.n_retailers
            lanes = [(r, m * R + i) for r, i, m in zip(*np.nonzero(units))]
        if not lanes:
            return
        n = len(lanes)
        z = self._lead_noise(kind, lanes)
        base_mean = np.array([routes[r].lead_time_mean for r, _ in lanes])
        base_sd = np.array([routes[r].lead_time_sd for r, _ in lanes])
        if kind == SUPPLY:
            up = np.array([links[k].upstream for _, k in lanes])
            down = np.array([links[k].downstream for _, k in lanes])
            nu = self._nego[down, up]
            mean = base_mean * (1.0 - p.negotiation_lead_mean_cut * nu)
            sd = base_sd * (1.0 - p.negotiation_lead_sd_cut * nu)
            cut = 1.0 - p.negotiation_defect_cut * nu
            rates = np.clip(cut * (p.defect_mean + p.defect_sd * self._defect_noise(lanes)), 0.0, 1.0)
            qs = [parts[r][links[k].products] for r, k in lanes]
            defects = self._defects(lanes, qs, rates)
            shipped = np.array([units[r, k] for r, k in lanes], dtype=np.float64)
            d["prod_cost_s"] += np.bincount(up, p.negotiation_premium * p.unit_value["raw"] * nu * shipped,
                                            minlength=net.n_suppliers)
        else:
            mean, sd = base_mean, base_sd
            qs = [parts[r][links[k].downstream, links[k].products] for r, k in lanes]
            defects = [None] * n
        lead = np.maximum(mean + sd * z, p.min_lead_time)
        if self.shift is not None and self.shift.kind == "lead_time_surge" and self.shift.active(self.t):
            lead = lead * self.shift.factor
        # on time = within the route's quoted (nominal, un-negotiated) mean lead time
        on_time = lead <= base_mean
        now, timeout, log = self.sim.now, self.sim.timeout, self.shipment_log
        for j, (r, k) in enumerate(lanes):
            q, dj = qs[j], defects[j]
            log.append((kind, k, r, now, float(lead[j]), int(q.sum()), 0 if dj is None else int(dj.sum())))
            timeout(float(lead[j])).callbacks.append(_Arrival(self, kind, links[k], q, dj, bool(on_time[j])))

    def _lead_noise(self, kind: int, lanes: list[tuple[int, int]]) -> np.ndarray:
        """Standardised lead-time draws (one per shipping lane and route, in ``lanes`` order)."""
        return self._lead_z.sample(self._shipment_rngs()[0], len(lanes))

    def _defect_noise(self, lanes: list[tuple[int, int]]) -> np.ndarray:
        """Standardised defect-rate draws, one per supply lane and route."""
        return self._defect_z.sample(self._shipment_rngs()[1], len(lanes))

    def _defects(self, lanes: list[tuple[int, int]], qs: list[np.ndarray],
                 rates: np.ndarray) -> list[np.ndarray]:
        """Defective units per product of each supply shipment: Binomial(q, rate of its lane)."""
        sizes = np.array([len(q) for q in qs])
        return np.split(self._shipment_rngs()[1].binomial(np.concatenate(qs), np.repeat(rates, sizes)),
                        np.cumsum(sizes)[:-1])

    def _arrive(self, sh: "_Arrival") -> None:
        """A shipment arrives: defective raw units are discarded, the rest joins the receiver's
        stock, and the receiver's reliability scores of the sender are updated (EWMA)."""
        a = self.p.reliability_smoothing
        if sh.kind == SUPPLY:
            self.raw_transit[sh.products] -= sh.q
            self.mfr_raw[sh.products] += sh.q - sh.defects
            self.ledger["raw_discarded"][sh.products] += sh.defects
            on_time, defect = self.rel_on_time_ms, self.rel_defect_ms
            on_time[sh.down, sh.up] += a * (sh.on_time - on_time[sh.down, sh.up])
            defect[sh.down, sh.up] += a * (sh.defect_rate - defect[sh.down, sh.up])
        else:
            self.fin_transit[sh.down][sh.products] -= sh.q
            self.ret_inv[sh.down][sh.products] += sh.q
            on_time = self.rel_on_time_rm
            on_time[sh.down, sh.up] += a * (sh.on_time - on_time[sh.down, sh.up])

    # -- accounting ------------------------------------------------------------------------------
    def _account(self, n_orders_r: np.ndarray, n_orders_m: np.ndarray) -> tuple[dict, dict, dict]:
        p, net, d = self.p, self.net, self._day
        S, M, R = net.n_suppliers, net.n_manufacturers, net.n_retailers
        hc, val = p.holding_cost, p.unit_value
        ps, pm = net.product_supplier, net.product_manufacturer
        # inventories on hand at the end of the day, per node
        stock_s = np.bincount(ps, self.sup_stock, minlength=S)
        raw_m = np.bincount(pm, self.mfr_raw, minlength=M)
        fin_m = np.bincount(pm, self.mfr_fin, minlength=M)
        inv_r = self.ret_inv.sum(axis=1)
        over_store_s = np.maximum(stock_s - self.storage_s, 0.0)
        over_store_m = np.maximum(raw_m + fin_m - self.storage_m, 0.0)
        over_store_r = np.maximum(inv_r - self.storage_r, 0.0)
        hold_s = hc["supplier"] * stock_s + p.overflow_cost * over_store_s
        hold_m = hc["manufacturer_raw"] * raw_m + hc["manufacturer_finished"] * fin_m \
            + p.overflow_cost * over_store_m
        hold_r = hc["retailer"] * inv_r + p.overflow_cost * over_store_r
        if p.transit_holding_cost is not None:   # pipeline stock is owned by the receiver
            hold_m = hold_m + p.transit_holding_cost["raw"] * np.bincount(pm, self.raw_transit, minlength=M)
            hold_r = hold_r + p.transit_holding_cost["finished"] * self.fin_transit.sum(axis=1)
        back_s = p.backlog_cost * np.bincount(ps, self.sup_backlog, minlength=S)
        back_m = p.backlog_cost * np.bincount(pm, self.mfr_backlog.sum(axis=0), minlength=M)
        back_r = p.lost_sale_cost * d["lost_r"]
        order_m = p.order_cost * n_orders_m
        order_r = p.order_cost * n_orders_r
        # rolling delivery rate per retailer
        w = self.t % p.service_window
        self._svc_demand[w] = d["demand_r"]
        self._svc_filled[w] = d["filled_r"]
        dem_w = self._svc_demand.sum(axis=0)
        rate = np.where(dem_w > 0, self._svc_filled.sum(axis=0) / np.maximum(dem_w, 1e-12), 1.0)
        self._rolling_rate = rate
        kpi: dict[str, dict[str, float]] = {}
        viol: dict[str, dict[str, float]] = {}
        costs = {}
        for a in self.possible_agents:
            tier, i = self._tier_of[a]
            c = dict.fromkeys(KPI_COUNTERS, 0.0)
            v = self.no_violations()
            if tier == "supplier":
                c["holding_cost"], c["backorder_cost"] = hold_s[i], back_s[i]
                c["production_cost"] = d["prod_cost_s"][i]
                c["inventory_value"] = val["raw"] * stock_s[i]
                v["storage_overflow"] = over_store_s[i]
                v["production_over_capacity"] = d["over_s"][i]
                if "supplier" in self.utilisation_tiers:
                    c["used_capacity"], c["available_capacity"] = d["produced_s"][i], self.cap_s[i]
            elif tier == "manufacturer":
                c["holding_cost"], c["backorder_cost"] = hold_m[i], back_m[i]
                c["ordering_cost"], c["production_cost"] = order_m[i], d["prod_cost_m"][i]
                c["transport_cost"] = d["transport_m"][i]
                c["inventory_value"] = val["raw"] * raw_m[i] + val["finished"] * fin_m[i]
                c["used_capacity"], c["available_capacity"] = d["produced_m"][i], self.cap_m[i]
                v["storage_overflow"] = over_store_m[i]
                v["production_over_capacity"] = d["over_m"][i]
            else:
                c["holding_cost"], c["backorder_cost"] = hold_r[i], back_r[i]
                c["ordering_cost"], c["transport_cost"] = order_r[i], d["transport_r"][i]
                c["demand"], c["filled"] = d["demand_r"][i], d["filled_r"][i]
                c["orders"] = float(self._order_r[i].sum())
                c["cogs"] = val["finished"] * d["filled_r"][i]
                c["inventory_value"] = val["finished"] * inv_r[i]
                v["storage_overflow"] = over_store_r[i]
                v["service_level_floor"] = max(self.service_bound - rate[i], 0.0)
            c["total_cost"] = sum(c[k] for k in COST_PARTS)
            kpi[a] = {k: float(x) for k, x in c.items()}
            viol[a] = {k: float(x) for k, x in v.items()}
            costs[a] = c["total_cost"]
        # shared (cooperative) reward: equal share of the system's normalised cost and service
        dem, fil = d["demand_r"].sum(), d["filled_r"].sum()
        service = fil / dem if dem > 0 else 1.0
        team = (-sum(costs.values()) / self._cost_scale + p.service_weight * service) / len(costs)
        rewards = dict.fromkeys(self.possible_agents, team)
        return rewards, kpi, viol

    # -- observations -----------------------------------------------------------------------------
    def _time_features(self) -> np.ndarray:
        day = self.p.start_day + self.t
        w, y = 2 * math.pi * day / 7.0, 2 * math.pi * day / 365.0
        return np.array([math.sin(w), math.cos(w), math.sin(y), math.cos(y), self.t / self.horizon])

    def _observe(self) -> dict[str, np.ndarray]:
        net, p = self.net, self.p
        tf = self._time_features()
        mu_p, mu_rp = self._mu_p, self._mu_rp
        ps, pm = net.product_supplier, net.product_manufacturer
        S, M = net.n_suppliers, net.n_manufacturers
        stock_s = np.bincount(ps, self.sup_stock, minlength=S)
        store_m = np.bincount(pm, self.mfr_raw + self.mfr_fin, minlength=M)
        owed_m = self.mfr_backlog.sum(axis=0)
        reliab_ms = self.rel_on_time_ms * (1.0 - self.rel_defect_ms)
        rate = self._rolling_rate
        out = {}
        for a in self.possible_agents:
            tier, i = self._tier_of[a]
            if tier == "supplier":
                pr = net.supplier_products[i]
                mu = mu_p[pr]
                parts = [self.sup_stock[pr] / mu, self.sup_backlog[pr] / mu, self._fc_s[pr] / mu,
                         self._in_orders_s[pr] / mu, self.mfr_raw[pr] / mu, mu / mu.sum(),
                         [self.cap_s[i] / self._mu_s[i], self._util_s[i], stock_s[i] / max(self.storage_s[i], 1e-9)],
                         tf]
            elif tier == "manufacturer":
                pr = net.manufacturer_products[i]
                mu = mu_p[pr]
                parts = [self.mfr_fin[pr] / mu, self.mfr_raw[pr] / mu, self.raw_transit[pr] / mu,
                         self.sup_backlog[pr] / mu, owed_m[pr] / mu, self._fc_m[pr] / mu,
                         self._in_orders_m[pr] / mu, mu / mu.sum(), reliab_ms[i],
                         [self.cap_m[i] / self._mu_m[i], self._util_m[i],
                          store_m[i] / max(self.storage_m[i], 1e-9)], tf]
            else:
                mu = mu_rp[i]
                parts = [self.ret_inv[i] / mu, self.fin_transit[i] / mu, self.mfr_backlog[i] / mu,
                         self._fc_r[i] / mu, self._last_demand[i] / mu, self.rel_on_time_rm[i],
                         [self.ret_inv[i].sum() / max(self.storage_r[i], 1e-9), rate[i]], tf]
            out[a] = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in parts]).astype(np.float32)
        return out

    def state(self) -> np.ndarray:
        """Global state: every stock, backlog and pipeline (in days of mean demand), reliability
        scores, negotiation levels and time features, as one float64 vector."""
        if self._demand_model is None:
            return np.zeros(self._state_size())
        mu_p, mu_rp = self._mu_p, self._mu_rp
        parts = [self.sup_stock / mu_p, self.sup_backlog / mu_p, self.raw_transit / mu_p,
                 self.mfr_raw / mu_p, self.mfr_fin / mu_p, self.mfr_backlog / mu_rp,
                 self.fin_transit / mu_rp, self.ret_inv / mu_rp,
                 self.rel_on_time_ms * (1.0 - self.rel_defect_ms), self.rel_on_time_rm,
                 self._nego, self._time_features()]
        return np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in parts])

    def _state_size(self) -> int:
        S, M, R, P = self.net.n_suppliers, self.net.n_manufacturers, self.net.n_retailers, self.net.n_products
        return 5 * P + 3 * R * P + 2 * M * S + R * M + N_TIME_FEATURES

    def _state_template(self) -> np.ndarray:
        return np.zeros(self._state_size())

    # -- test and analysis helpers ------------------------------------------------------------------
    @property
    def demand_path(self) -> np.ndarray:
        """The episode's realised customer demand (units, int64, shape (T, R, P)), drawn at reset.

        Hindsight information (same name as in Serial-v1): only ``oracle`` policies may read it."""
        return self.demand

    def expected_demand(self) -> np.ndarray:
        """The episode's mean demand path E[D[t, r, p]] (units/day, shape (T, R, P)), shift included.

        Hindsight information: a policy that uses it must declare the ``oracle`` paradigm."""
        return self._demand_mean.copy()

    def conservation(self) -> dict[str, np.ndarray]:
        """Per-product unit balances (int64, shape (P,)) that are exactly zero at every day
        boundary; ``ledger`` holds the cumulative flows.

        * ``supplier``: initial + produced - (supplier stock + shipped);
        * ``raw``: manufacturer's initial raw + shipped by the supplier - (in transit + raw stock
          + defective units discarded on receipt + consumed by production);
        * ``finished``: initial finished (manufacturer and retailers) + produced - (manufacturer
          stock + in transit + retail stock + sold).
        """
        L = self.ledger
        return {
            "supplier": L["supplier_initial"] + L["raw_produced"] - (self.sup_stock + L["raw_shipped"]),
            "raw": (L["raw_initial"] + L["raw_shipped"]
                    - (self.raw_transit + self.mfr_raw + L["raw_discarded"] + L["raw_consumed"])),
            "finished": (L["fin_initial"] + L["raw_consumed"]
                         - (self.mfr_fin + self.fin_transit.sum(axis=0) + self.ret_inv.sum(axis=0)
                            + L["sold"])),
        }


class _Arrival:
    """One shipment in flight and the SimPy callback for its arrival (a slotted object is cheaper
    than a closure per event)."""

    __slots__ = ("env", "kind", "up", "down", "products", "q", "defects", "defect_rate", "on_time")

    def __init__(self, env: ThreeTierEnv, kind: int, link: Any, q: np.ndarray,
                 defects: np.ndarray | None, on_time: bool) -> None:
        self.env, self.kind, self.q, self.defects = env, kind, q, defects
        self.up, self.down, self.products = link.upstream, link.downstream, link.products
        self.on_time = 1.0 if on_time else 0.0
        self.defect_rate = 0.0 if defects is None else float(defects.sum()) / max(float(q.sum()), 1.0)

    def __call__(self, _event: Any) -> None:
        self.env._arrive(self)


def _per_retailer(product: DemandModel, size: np.ndarray) -> DemandModel:
    """The product family replicated per retailer (columns ``r * P + p``), retailer ``r``'s
    level scaled by ``size[r]``: same seasonality per product everywhere, own noise per column."""
    R = len(size)
    return DemandModel(base=np.repeat(size, product.n_products) * np.tile(product.base, R),
                       trend=np.tile(product.trend, R), weekly=np.tile(product.weekly, (R, 1)),
                       annual_amplitude=np.tile(product.annual_amplitude, R),
                       annual_peak_day=np.tile(product.annual_peak_day, R),
                       noise_cv=np.tile(product.noise_cv, R),
                       ar1=None if product.ar1 is None else np.tile(product.ar1, R))


def _shares(w: np.ndarray) -> np.ndarray:
    """Route weights -> shares summing to 1 (all zero -> equal shares)."""
    total = float(w.sum())
    return w / total if total > 1e-9 else np.full(w.shape, 1.0 / len(w))


def _split(q: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Split integer quantities over routes exactly, by cumulative rounding, so that no unit is
    created or lost. ``q`` is (N,) or (N, P) units; ``shares`` is (N, K), the route shares that
    apply to row n of ``q``. Returns (K,) + q.shape non-negative integer parts summing to ``q``."""
    cs = np.cumsum(shares, axis=-1)
    cs = cs.reshape(cs.shape + (1,) * (q.ndim - 1))                 # (N, K, 1...)
    cum = np.floor(cs * q[:, None] + 0.5).astype(np.int64)          # (N, K, ...)
    cum[:, -1] = q
    return np.moveaxis(np.diff(cum, axis=1, prepend=0), 1, 0)
