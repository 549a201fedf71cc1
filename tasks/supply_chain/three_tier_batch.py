"""A vectorised numpy engine for ThreeTier-v2 that steps B episodes at once (for training).

Why: the SimPy simulator (``three_tier.py``, ``three_tier_v2.py``) is the reference, but it runs a
few hundred env steps per second, so a million training steps take hours. This engine reproduces
its episodes — same observations, rewards, KPI counters and violations, within
``bench.reproduce``'s cross-machine tolerance — with every operation vectorised over the batch.

How it stays faithful rather than re-derived:

* **Reset is the reference's.** Each batch slot owns a ``ThreeTierV2Env``; ``reset`` resets it
  (demand model, history, units, capacities, initial stock, forecasters, shipment noise) and
  copies its state into batch arrays. Only stepping is re-implemented.
* **Same day, same order.** Within day t: orders join backlogs (t + 0), suppliers produce and
  ship (t + 0.25), manufacturers convert and ship (t + 0.5), customers buy (t + 0.75), end-of-day
  accounting (t + 1); shipments arrive at their continuous arrival time, i.e. in the window
  between the operations that precede and follow it, in time order (which matters only for the
  reliability EWMAs; stock changes are integer and commute).
* **Same noise.** ThreeTier-v2 draws every lead time, defect rate and defect uniform at reset
  (``ThreeTierV2Env.noise``), so the engine reads them by (day, route, lane) instead of calling
  per-episode generators; defective units come from the shared ``binomial_by_inversion``.

Float sums over nodes use matrix products where the SimPy env uses ``np.bincount``; the order of
additions may differ in the last bit, which the tolerance covers (integer stock is exact). Tested
against the SimPy env at every scale and shift in ``tests/supply_chain/test_three_tier_batch.py``;
speed in ``tests/benchmarks/test_three_tier_speed.py``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from tasks.supply_chain.forecast import Forecaster
from tasks.supply_chain.three_tier import COST_PARTS, KPI_COUNTERS, N_TIME_FEATURES
from tasks.supply_chain.three_tier_v2 import ThreeTierV2Env, binomial_by_inversion

TASK = "supply_chain/ThreeTier-v2"
SUPPLY, DISTRIBUTION = 0, 1
RING = 64          # quarter-day slots (16 days) of booked arrivals; later ones go to a dict


def _onehot(index: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(index), n), np.int64)
    out[np.arange(len(index)), index] = 1
    return out


def _batched_forecaster(parts: Sequence[Forecaster]) -> Forecaster:
    """One Forecaster over the columns of ``parts`` side by side (the model is per column)."""
    f0 = parts[0]
    if not all(f._initialised and not f._buffer for f in parts):
        raise ValueError("the batch engine needs warm-started forecasters (history_days >= 2 * season)")
    fc = Forecaster(sum(f.n_products for f in parts), season=f0.season, alpha=f0.alpha, beta=f0.beta,
                    gamma=f0.gamma, phi=f0.phi)
    fc._level = np.concatenate([f._level for f in parts])
    fc._trend = np.concatenate([f._trend for f in parts])
    fc._seasonal = np.concatenate([f._seasonal for f in parts], axis=1)
    fc._t = f0._t
    fc._initialised = True
    return fc


class ThreeTierBatch:
    """B ThreeTier-v2 episodes stepped together.

    ``reset(seeds)`` returns ``{agent: (B, obs_dim) float32}``; ``step(actions)`` takes
    ``{agent: (B, act_dim)}`` and returns ``(obs, rewards (B,), kpi, violations)`` where
    ``kpi[agent][counter]`` and ``violations[agent][constraint]`` are (B,) arrays — the SimPy
    env's per-agent ``infos`` stacked over the batch. Every episode ends after ``horizon`` steps.
    """

    def __init__(self, batch_size: int, scale: str | None = None, scenario: str | None = None) -> None:
        from bench.registry import make

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.envs: list[ThreeTierV2Env] = [make(TASK, scale=scale, scenario=scenario).unwrapped
                                           for _ in range(batch_size)]
        e = self.envs[0]
        self.B, self.p, self.net, self.shift, self.horizon = batch_size, e.p, e.net, e.shift, e.horizon
        self.possible_agents = list(e.possible_agents)
        self.agents: list[str] = []
        self.service_bound, self.K = e.service_bound, e.n_routes
        net, p = self.net, self.p
        self.S, self.M, self.R, self.P = net.n_suppliers, net.n_manufacturers, net.n_retailers, net.n_products
        self.tier_of = dict(e._tier_of)
        self.act_layout = {a: e.action_layout(a) for a in self.possible_agents}
        self.obs_layout = {a: e.observation_layout(a) for a in self.possible_agents}
        self.n_act = {a: max(s.stop for s in lay.values()) for a, lay in self.act_layout.items()}
        ps, pm = net.product_supplier, net.product_manufacturer
        self.oh_ps, self.oh_pm = _onehot(ps, self.S), _onehot(pm, self.M)
        self.oh_ps_f, self.oh_pm_f = self.oh_ps.astype(float), self.oh_pm.astype(float)
        Ls = len(net.supply_links)
        self.oh_lane = _onehot(e._lane_of_p, Ls)                                   # (P, Ls)
        self.oh_lane_buyer = _onehot(e._lane_buyer, self.M)                       # (Ls, M)
        self.lane_up = np.array([l.upstream for l in net.supply_links])
        self.lane_down = np.array([l.downstream for l in net.supply_links])
        self.lane_mask = self.oh_lane.T.astype(bool)                               # (Ls, P)
        self.lane_of_p = e._lane_of_p
        B_, R_, P_ = np.arange(batch_size), np.arange(self.R), np.arange(self.P)
        self.grid = ((B_[:, None], P_[None, :]), (B_[:, None, None], R_[None, :, None], P_[None, None, :]))
        self.mfr_mask = self.oh_pm.T.astype(bool)                                  # (M, P)
        rs, rd = p.routes_supply, p.routes_distribution
        self.sup_mean = np.array([r.lead_time_mean for r in rs])
        self.sup_sd = np.array([r.lead_time_sd for r in rs])
        self.dist_mean = np.array([r.lead_time_mean for r in rd])
        self.dist_sd = np.array([r.lead_time_sd for r in rd])
        self.sup_cost = [r.cost_per_unit for r in rs]
        self.dist_cost = [r.cost_per_unit for r in rd]

    # -- reset -------------------------------------------------------------------------------------
    def reset(self, seeds: Sequence[int]) -> dict[str, np.ndarray]:
        if len(seeds) != self.B:
            raise ValueError(f"reset needs {self.B} seeds (one per episode), got {len(seeds)}")
        for env, seed in zip(self.envs, seeds):
            env.reset(seed=int(seed))
        E = self.envs

        def stack(name: str) -> np.ndarray:
            return np.stack([np.array(getattr(e, name), copy=True) for e in E])

        for name in ("_mu_p", "_mu_rp", "_mu_s", "_mu_m", "cap_s", "cap_m", "storage_s", "storage_m",
                     "storage_r", "sup_stock", "sup_backlog", "raw_transit", "mfr_raw", "mfr_fin",
                     "mfr_backlog", "fin_transit", "ret_inv", "_route_w_m", "_route_w_r", "_nego",
                     "_req_s", "_req_m", "rel_on_time_ms", "rel_defect_ms", "rel_on_time_rm",
                     "_svc_demand", "_svc_filled", "_last_demand", "_in_orders_m", "_in_orders_s",
                     "_util_s", "_util_m", "_rolling_rate", "demand", "_fc_r", "_fc_m", "_fc_s"):
            setattr(self, name.lstrip("_"), stack(name))
        self.cost_scale = np.array([e._cost_scale for e in E])
        self.noise = {k: np.stack([e.noise[k] for e in E]) for k in E[0].noise}
        self.fc_retail = _batched_forecaster([e.fc_retail for e in E])
        self.fc_mfr = _batched_forecaster([e.fc_mfr for e in E])
        self.fc_sup = _batched_forecaster([e.fc_sup for e in E])
        self.pending: list[list] = []            # [chunk sorted by arrival time, next index]
        self.stock_due: tuple[dict, dict] = ({}, {})   # per kind: slot -> [(row, units, net)] beyond the ring
        sup_q = np.zeros((RING, self.B, self.P), np.int64)
        dist_q = np.zeros((RING, self.B, self.R, self.P), np.int64)
        self.ring = ((sup_q, np.zeros_like(sup_q)), (dist_q, dist_q))   # (units, units net of defects)
        self.t = 0
        self.agents = list(self.possible_agents)
        return self._observe()

    # -- one day -----------------------------------------------------------------------------------
    def step(self, actions: Mapping[str, Any]) -> tuple[dict, np.ndarray, dict, dict]:
        if not self.agents:
            raise RuntimeError("all episodes are done: call reset()")
        B, R, P, M, S = self.B, self.R, self.P, self.M, self.S
        order_r, order_m = self._parse_actions(actions)
        self.day = d = {"prod_cost_s": np.zeros((B, S)), "prod_cost_m": np.zeros((B, M)),
                        "transport_m": np.zeros((B, M)), "transport_r": np.zeros((B, R)),
                        "over_s": np.zeros((B, S)), "over_m": np.zeros((B, M)),
                        "produced_m": np.zeros((B, M)), "produced_s": np.zeros((B, S)),
                        "demand_r": np.zeros((B, R)), "filled_r": np.zeros((B, R)), "lost_r": np.zeros((B, R))}
        self.mfr_backlog += order_r
        self.sup_backlog += order_m
        n_orders_r = ((order_r @ self.oh_pm) > 0).sum(axis=2)
        lane_units = order_m @ self.oh_lane
        n_orders_m = (lane_units > 0).astype(np.int64) @ self.oh_lane_buyer
        self.in_orders_m = order_r.sum(axis=1).astype(np.float64)
        self.in_orders_s = order_m.astype(np.float64)
        self.order_r = order_r
        t = self.t
        self._arrivals_before(t + 0.25)
        self._supplier_operations(d)
        self._arrivals_before(t + 0.5)
        self._manufacturer_operations(d)
        self._arrivals_before(t + 0.75)
        self._retail_demand(d)
        self._arrivals_before(t + 1.0)
        self.fc_retail.update(self.demand[:, t].reshape(B * R * P).astype(np.float64))
        self.fc_mfr.update(self.in_orders_m.reshape(B * P))
        self.fc_sup.update(self.in_orders_s.reshape(B * P))
        h = self.p.forecast_horizon
        self.fc_r = np.maximum(self.fc_retail.forecast(h).mean(axis=0), 0.0).reshape(B, R, P)
        self.fc_m = np.maximum(self.fc_mfr.forecast(h).mean(axis=0), 0.0).reshape(B, P)
        self.fc_s = np.maximum(self.fc_sup.forecast(h).mean(axis=0), 0.0).reshape(B, P)
        rewards, kpi, viol = self._account(n_orders_r, n_orders_m)
        self.t += 1
        if self.t >= self.horizon:
            self.agents = []
        return self._observe(), rewards, kpi, viol

    def _parse_actions(self, actions: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        B, p, net = self.B, self.p, self.net
        scale = p.action_scale_days
        checked = {}
        for a in self.possible_agents:
            raw = np.asarray(actions[a], dtype=np.float64)
            if raw.shape != (B, self.n_act[a]):
                raise ValueError(f"action of {a!r} has shape {raw.shape}; expected ({B}, {self.n_act[a]})")
            if not np.all(np.isfinite(raw)):
                raise ValueError(f"action of {a!r} contains NaN or inf; pass finite values in [0, 1]")
            checked[a] = np.clip(raw, 0.0, 1.0)
        order_r = np.zeros((B, self.R, self.P), np.int64)
        order_m = np.zeros((B, self.P), np.int64)
        for a, act in checked.items():
            lay = self.act_layout[a]
            tier, i = self.tier_of[a]
            if tier == "supplier":
                prods = net.supplier_products[i]
                self.req_s[:, prods] = act[:, lay["production"]] * scale * self.mu_p[:, prods]
            elif tier == "manufacturer":
                prods = net.manufacturer_products[i]
                self.req_m[:, prods] = act[:, lay["production"]] * scale * self.mu_p[:, prods]
                order_m[:, prods] = np.floor(act[:, lay["raw_order"]] * scale * self.mu_p[:, prods] + 0.5)
                self.route_w_m[:, i] = _shares(act[:, lay["route"]])
                self.nego[:, i] = act[:, lay["negotiation"]]
            else:
                order_r[:, i] = np.floor(act[:, lay["order"]] * scale * self.mu_rp[:, i] + 0.5)
                self.route_w_r[:, i] = _shares(act[:, lay["route"]])
        return order_r, order_m

    def _supplier_operations(self, d: dict) -> None:
        p, net = self.p, self.net
        ps = net.product_supplier
        req = self.req_s
        total = req @ self.oh_ps_f
        d["over_s"] = np.maximum(total - self.cap_s, 0.0)
        factor = np.where(total > self.cap_s, self.cap_s / np.maximum(total, 1e-12), 1.0)
        produced = np.floor(req * factor[:, ps] + 1e-9).astype(np.int64)
        down = np.zeros(self.S, bool)
        if self.shift is not None and self.shift.kind == "supplier_outage" and self.shift.active(self.t):
            down[self.shift.supplier] = True
        down_p = down[ps]
        produced[:, down_p] = 0
        d["produced_s"] = (produced @ self.oh_ps).astype(np.float64)
        self.util_s = d["produced_s"] / np.maximum(self.cap_s, 1e-12)
        self.sup_stock += produced
        d["prod_cost_s"] = p.production_cost["supplier"] * d["produced_s"]
        ship = np.minimum(self.sup_stock, self.sup_backlog)
        ship[:, down_p] = 0
        self.sup_stock -= ship
        self.sup_backlog -= ship
        self._dispatch_supply(ship, d)

    def _manufacturer_operations(self, d: dict) -> None:
        p, pm = self.p, self.net.product_manufacturer
        req = self.req_m
        total = req @ self.oh_pm_f
        d["over_m"] = np.maximum(total - self.cap_m, 0.0)
        factor = np.where(total > self.cap_m, self.cap_m / np.maximum(total, 1e-12), 1.0)
        produced = np.minimum(np.floor(req * factor[:, pm] + 1e-9).astype(np.int64), self.mfr_raw)
        self.mfr_raw -= produced
        self.mfr_fin += produced
        used = (produced @ self.oh_pm).astype(np.float64)
        d["produced_m"] = used
        self.util_m = used / np.maximum(self.cap_m, 1e-12)
        d["prod_cost_m"] = p.production_cost["manufacturer"] * used
        owed = self.mfr_backlog.sum(axis=1)
        ratio = np.where(owed > self.mfr_fin, self.mfr_fin / np.maximum(owed, 1), 1.0)
        ship = np.floor(self.mfr_backlog * ratio[:, None, :] + 1e-9).astype(np.int64)
        ship = np.minimum(ship, self.mfr_backlog)
        self.mfr_fin -= ship.sum(axis=1)
        self.mfr_backlog -= ship
        self._dispatch_distribution(ship, d)

    def _retail_demand(self, d: dict) -> None:
        dem = self.demand[:, self.t]
        filled = np.minimum(dem, self.ret_inv)
        self.ret_inv -= filled
        self.last_demand = dem
        d["demand_r"] = dem.sum(axis=2).astype(np.float64)
        d["filled_r"] = filled.sum(axis=2).astype(np.float64)
        d["lost_r"] = d["demand_r"] - d["filled_r"]

    # -- shipments ---------------------------------------------------------------------------------
    def _lead(self, mean: np.ndarray, sd: np.ndarray, z: np.ndarray) -> np.ndarray:
        lead = np.maximum(mean + sd * z, self.p.min_lead_time)
        if self.shift is not None and self.shift.kind == "lead_time_surge" and self.shift.active(self.t):
            lead = lead * self.shift.factor
        return lead

    def _dispatch_supply(self, ship: np.ndarray, d: dict) -> None:
        p, net, t = self.p, self.net, self.t
        pm = net.product_manufacturer
        parts = _split(ship, self.route_w_m[:, pm])                                # (B, K, P)
        units = parts @ self.oh_lane                                               # (B, K, Ls)
        self.raw_transit += ship
        cost = 0
        for r, c in enumerate(self.sup_cost):
            cost = cost + c * parts[:, r]
        d["transport_m"] += cost @ self.oh_pm_f
        b, r, k = np.nonzero(units)
        if len(b) == 0:
            return
        up, down = self.lane_up[k], self.lane_down[k]
        nu = self.nego[b, down, up]
        base_mean = self.sup_mean[r]
        mean = base_mean * (1.0 - p.negotiation_lead_mean_cut * nu)
        sd = self.sup_sd[r] * (1.0 - p.negotiation_lead_sd_cut * nu)
        cut = 1.0 - p.negotiation_defect_cut * nu
        rates = np.clip(cut * (p.defect_mean + p.defect_sd * self.noise["defect"][b, t, r, k]), 0.0, 1.0)
        q = parts[b, r] * self.lane_mask[k]                                        # (n, P)
        row, col = np.nonzero(q)                 # the binomial only where units were shipped
        bad = binomial_by_inversion(self.noise["defect_u"][b[row], t, r[row], col], q[row, col], rates[row])
        defects = np.zeros_like(q)
        defects[row, col] = bad
        defects_full = np.zeros_like(parts)
        defects_full[b[row], r[row], col] = bad
        shipped = units[b, r, k].astype(np.float64)
        np.add.at(d["prod_cost_s"], (b, up), p.negotiation_premium * p.unit_value["raw"] * nu * shipped)
        lead = self._lead(mean, sd, self.noise["lead_supply"][b, t, r, k])
        time = (t + 0.25) + lead
        slot = np.zeros(units.shape, np.int64)
        slot[b, r, k] = np.floor(time * 4.0).astype(np.int64)
        self._book(SUPPLY, slot[:, :, self.lane_of_p], parts, parts - defects_full)
        self._schedule({"kind": np.full(len(b), SUPPLY), "b": b, "up": up, "down": down, "time": time,
                        "on_time": (lead <= base_mean).astype(np.float64),
                        "defect_rate": defects.sum(axis=1) / np.maximum(q.sum(axis=1), 1.0)})

    def _dispatch_distribution(self, ship: np.ndarray, d: dict) -> None:
        t, R = self.t, self.R
        parts = _split(ship, self.route_w_r)                                       # (B, K, R, P)
        units = parts @ self.oh_pm                                                 # (B, K, R, M)
        self.fin_transit += ship
        cost = 0
        for r, c in enumerate(self.dist_cost):
            cost = cost + c * parts[:, r].sum(axis=2)
        d["transport_r"] += cost
        b, r, i, m = np.nonzero(units)
        if len(b) == 0:
            return
        base_mean = self.dist_mean[r]
        lead = self._lead(base_mean, self.dist_sd[r], self.noise["lead_distribution"][b, t, r, m * R + i])
        time = (t + 0.5) + lead
        slot = np.zeros(units.shape, np.int64)
        slot[b, r, i, m] = np.floor(time * 4.0).astype(np.int64)
        self._book(DISTRIBUTION, slot[..., self.net.product_manufacturer], parts, parts)
        self._schedule({"kind": np.full(len(b), DISTRIBUTION), "b": b, "up": m, "down": i, "time": time,
                        "on_time": (lead <= base_mean).astype(np.float64),
                        "defect_rate": np.zeros(len(b))})

    def _book(self, kind: int, slot: np.ndarray, q: np.ndarray, net: np.ndarray) -> None:
        """Book the stock every shipment moves into the quarter-day slot floor(4 x arrival time)
        in which it lands (x4 is exact in binary): integer changes within a window commute, so
        they are summed at dispatch into a ring of RING slots (a dict holds the rare arrival
        beyond it). ``slot``, ``q``, ``net`` are (B, K, P) (supply) or (B, K, R, P)
        (distribution): per episode, route and product; ``net`` = units net of defects."""
        ring_q, ring_net = self.ring[kind]
        far = (slot >= 4 * self.t + RING) & (q > 0)
        if far.any():
            for idx in zip(*np.nonzero(far)):
                where = (idx[0],) + idx[2:]                    # drop the route
                self.stock_due[kind].setdefault(int(slot[idx]), []).append((where, q[idx], net[idx]))
            q, net = np.where(far, 0, q), np.where(far, 0, net)
        grid = self.grid[kind]
        for r in range(self.K):
            at = (slot[:, r] % RING,) + grid
            ring_q[at] += q[:, r]
            if ring_net is not ring_q:
                ring_net[at] += net[:, r]

    def _schedule(self, chunk: dict[str, np.ndarray]) -> None:
        """Queue one dispatch's shipments for the reliability scores, sorted by arrival time
        (a due set is then a prefix)."""
        order = np.argsort(chunk["time"], kind="stable")
        self.pending.append([{k: v[order] for k, v in chunk.items()}, 0])

    def _arrivals_before(self, cutoff: float) -> None:
        """Deliver the stock of every shipment due before ``cutoff`` (the ring slot of the
        quarter-day window that just ended); at the end of the day, also update the
        reliability scores with the day's arrivals in time order (they are only observed
        then, and the order per buyer and seller is the same)."""
        slot = int(round(cutoff * 4.0)) - 1
        for kind, (transit, stock) in ((SUPPLY, (self.raw_transit, self.mfr_raw)),
                                       (DISTRIBUTION, (self.fin_transit, self.ret_inv))):
            ring_q, ring_net = self.ring[kind]
            transit -= ring_q[slot % RING]
            stock += ring_net[slot % RING]
            ring_q[slot % RING] = 0
            ring_net[slot % RING] = 0
            for where, q_, n_ in self.stock_due[kind].pop(slot, []):
                transit[where] -= q_
                stock[where] += n_
        if slot % 4 == 3:
            self._reliability_before(cutoff)

    def _reliability_before(self, cutoff: float) -> None:
        due_parts, keep = [], []
        for entry in self.pending:
            chunk, start = entry
            stop = int(np.searchsorted(chunk["time"], cutoff, side="left"))
            if stop > start:
                due_parts.append({k: v[start:stop] for k, v in chunk.items()})
                entry[1] = stop
            if entry[1] < len(chunk["time"]):
                keep.append(entry)
        self.pending = keep
        if not due_parts:
            return
        a = due_parts[0] if len(due_parts) == 1 else \
            {k: np.concatenate([x[k] for x in due_parts]) for k in due_parts[0]}
        # reliability EWMAs: order matters per (episode, buyer, seller), so apply rank by rank
        alpha = self.p.reliability_smoothing
        key = ((a["b"] * 2 + a["kind"]) * 1_000_003 + a["down"]) * 1_000_003 + a["up"]
        order = np.lexsort((a["time"], key))
        ks = key[order]
        start = np.r_[0, np.flatnonzero(ks[1:] != ks[:-1]) + 1]
        rank = np.arange(len(ks)) - np.repeat(start, np.diff(np.r_[start, len(ks)]))
        for j in range(int(rank.max()) + 1):
            sel = order[rank == j]
            s_sup = sel[a["kind"][sel] == SUPPLY]
            if len(s_sup):
                idx = (a["b"][s_sup], a["down"][s_sup], a["up"][s_sup])
                self.rel_on_time_ms[idx] += alpha * (a["on_time"][s_sup] - self.rel_on_time_ms[idx])
                self.rel_defect_ms[idx] += alpha * (a["defect_rate"][s_sup] - self.rel_defect_ms[idx])
            s_dist = sel[a["kind"][sel] == DISTRIBUTION]
            if len(s_dist):
                idx = (a["b"][s_dist], a["down"][s_dist], a["up"][s_dist])
                self.rel_on_time_rm[idx] += alpha * (a["on_time"][s_dist] - self.rel_on_time_rm[idx])

    # -- accounting and observations -------------------------------------------------------------------
    def _account(self, n_orders_r: np.ndarray, n_orders_m: np.ndarray) -> tuple[np.ndarray, dict, dict]:
        p, d, B = self.p, self.day, self.B
        hc, val, th = p.holding_cost, p.unit_value, p.transit_holding_cost
        stock_s = (self.sup_stock @ self.oh_ps).astype(np.float64)
        raw_m = (self.mfr_raw @ self.oh_pm).astype(np.float64)
        fin_m = (self.mfr_fin @ self.oh_pm).astype(np.float64)
        inv_r = self.ret_inv.sum(axis=2)
        over_s = np.maximum(stock_s - self.storage_s, 0.0)
        over_m = np.maximum(raw_m + fin_m - self.storage_m, 0.0)
        over_r = np.maximum(inv_r - self.storage_r, 0.0)
        hold_s = hc["supplier"] * stock_s + p.overflow_cost * over_s
        hold_m = hc["manufacturer_raw"] * raw_m + hc["manufacturer_finished"] * fin_m + p.overflow_cost * over_m
        hold_r = hc["retailer"] * inv_r + p.overflow_cost * over_r
        hold_m = hold_m + th["raw"] * (self.raw_transit @ self.oh_pm).astype(np.float64)
        hold_r = hold_r + th["finished"] * self.fin_transit.sum(axis=2)
        back_s = p.backlog_cost * (self.sup_backlog @ self.oh_ps).astype(np.float64)
        back_m = p.backlog_cost * (self.mfr_backlog.sum(axis=1) @ self.oh_pm).astype(np.float64)
        back_r = p.lost_sale_cost * d["lost_r"]
        w = self.t % p.service_window
        self.svc_demand[:, w] = d["demand_r"]
        self.svc_filled[:, w] = d["filled_r"]
        dem_w = self.svc_demand.sum(axis=1)
        rate = np.where(dem_w > 0, self.svc_filled.sum(axis=1) / np.maximum(dem_w, 1e-12), 1.0)
        self.rolling_rate = rate
        zero = np.zeros(B)
        kpi, viol, total = {}, {}, 0.0
        for a in self.possible_agents:
            tier, i = self.tier_of[a]
            c = dict.fromkeys(KPI_COUNTERS, zero)
            v = {"storage_overflow": zero, "production_over_capacity": zero, "service_level_floor": zero}
            if tier == "supplier":
                c["holding_cost"], c["backorder_cost"] = hold_s[:, i], back_s[:, i]
                c["production_cost"] = d["prod_cost_s"][:, i]
                c["inventory_value"] = val["raw"] * stock_s[:, i]
                c["used_capacity"], c["available_capacity"] = d["produced_s"][:, i], self.cap_s[:, i]
                v["storage_overflow"], v["production_over_capacity"] = over_s[:, i], d["over_s"][:, i]
            elif tier == "manufacturer":
                c["holding_cost"], c["backorder_cost"] = hold_m[:, i], back_m[:, i]
                c["ordering_cost"] = p.order_cost * n_orders_m[:, i]
                c["production_cost"] = d["prod_cost_m"][:, i]
                c["transport_cost"] = d["transport_m"][:, i]
                c["inventory_value"] = val["raw"] * raw_m[:, i] + val["finished"] * fin_m[:, i]
                c["used_capacity"], c["available_capacity"] = d["produced_m"][:, i], self.cap_m[:, i]
                v["storage_overflow"], v["production_over_capacity"] = over_m[:, i], d["over_m"][:, i]
            else:
                c["holding_cost"], c["backorder_cost"] = hold_r[:, i], back_r[:, i]
                c["ordering_cost"] = p.order_cost * n_orders_r[:, i]
                c["transport_cost"] = d["transport_r"][:, i]
                c["demand"], c["filled"] = d["demand_r"][:, i], d["filled_r"][:, i]
                c["orders"] = self.order_r[:, i].sum(axis=1).astype(np.float64)
                c["cogs"] = val["finished"] * d["filled_r"][:, i]
                c["inventory_value"] = val["finished"] * inv_r[:, i]
                v["storage_overflow"] = over_r[:, i]
                v["service_level_floor"] = np.maximum(self.service_bound - rate[:, i], 0.0)
            cost = 0
            for k in COST_PARTS:
                cost = cost + c[k]
            c["total_cost"] = cost
            total = total + cost
            kpi[a] = {k: (x if isinstance(x, np.ndarray) and x.dtype == np.float64 else
                          np.broadcast_to(np.asarray(x, dtype=np.float64), (B,))) for k, x in c.items()}
            viol[a] = v
        dem, fil = d["demand_r"].sum(axis=1), d["filled_r"].sum(axis=1)
        service = np.where(dem > 0, fil / np.where(dem > 0, dem, 1.0), 1.0)
        team = (-total / self.cost_scale + p.service_weight * service) / len(self.possible_agents)
        return team, kpi, viol

    def _time_features(self) -> np.ndarray:
        day = self.p.start_day + self.t
        w, y = 2 * math.pi * day / 7.0, 2 * math.pi * day / 365.0
        return np.array([math.sin(w), math.cos(w), math.sin(y), math.cos(y), self.t / self.horizon])

    def _observe(self) -> dict[str, np.ndarray]:
        net, B = self.net, self.B
        tf = np.broadcast_to(self._time_features(), (B, N_TIME_FEATURES))
        stock_s = (self.sup_stock @ self.oh_ps).astype(np.float64)
        store_m = ((self.mfr_raw + self.mfr_fin) @ self.oh_pm).astype(np.float64)
        owed_m = self.mfr_backlog.sum(axis=1)
        reliab_ms = self.rel_on_time_ms * (1.0 - self.rel_defect_ms)
        out = {}
        for a in self.possible_agents:
            tier, i = self.tier_of[a]
            if tier == "supplier":
                pr = net.supplier_products[i]
                mu = self.mu_p[:, pr]
                parts = [self.sup_stock[:, pr] / mu, self.sup_backlog[:, pr] / mu, self.fc_s[:, pr] / mu,
                         self.in_orders_s[:, pr] / mu, self.mfr_raw[:, pr] / mu, mu / mu.sum(axis=1, keepdims=True),
                         np.stack([self.cap_s[:, i] / self.mu_s[:, i], self.util_s[:, i],
                                   stock_s[:, i] / np.maximum(self.storage_s[:, i], 1e-9)], axis=1), tf]
            elif tier == "manufacturer":
                pr = net.manufacturer_products[i]
                mu = self.mu_p[:, pr]
                parts = [self.mfr_fin[:, pr] / mu, self.mfr_raw[:, pr] / mu, self.raw_transit[:, pr] / mu,
                         self.sup_backlog[:, pr] / mu, owed_m[:, pr] / mu, self.fc_m[:, pr] / mu,
                         self.in_orders_m[:, pr] / mu, mu / mu.sum(axis=1, keepdims=True), reliab_ms[:, i],
                         np.stack([self.cap_m[:, i] / self.mu_m[:, i], self.util_m[:, i],
                                   store_m[:, i] / np.maximum(self.storage_m[:, i], 1e-9)], axis=1), tf]
            else:
                mu = self.mu_rp[:, i]
                parts = [self.ret_inv[:, i] / mu, self.fin_transit[:, i] / mu, self.mfr_backlog[:, i] / mu,
                         self.fc_r[:, i] / mu, self.last_demand[:, i] / mu, self.rel_on_time_rm[:, i],
                         np.stack([self.ret_inv[:, i].sum(axis=1) / np.maximum(self.storage_r[:, i], 1e-9),
                                   self.rolling_rate[:, i]], axis=1), tf]
            out[a] = np.concatenate([np.asarray(x, dtype=np.float64) for x in parts], axis=1).astype(np.float32)
        return out


    def state(self) -> np.ndarray:
        """Global state of every episode (B, state dim), float64: ``ThreeTierEnv.state()`` stacked
        (stocks, backlogs and pipelines in days of mean demand, reliabilities, negotiation levels,
        time features), for a centralised critic."""
        B = self.B
        mu_p, mu_rp = self.mu_p, self.mu_rp
        parts = [self.sup_stock / mu_p, self.sup_backlog / mu_p, self.raw_transit / mu_p,
                 self.mfr_raw / mu_p, self.mfr_fin / mu_p, self.mfr_backlog / mu_rp,
                 self.fin_transit / mu_rp, self.ret_inv / mu_rp,
                 self.rel_on_time_ms * (1.0 - self.rel_defect_ms), self.rel_on_time_rm,
                 self.nego, np.broadcast_to(self._time_features(), (B, N_TIME_FEATURES))]
        return np.concatenate([np.asarray(x, dtype=np.float64).reshape(B, -1) for x in parts], axis=1)


def _sum_rows(index: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sum the rows of each (n, P) integer array per distinct ``index``: (unique index, sums...)."""
    order = np.argsort(index, kind="stable")
    idx = index[order]
    start = np.r_[0, np.flatnonzero(idx[1:] != idx[:-1]) + 1]
    sums = tuple(np.add.reduceat(x[order], start, axis=0) if len(idx) else x[:0] for x in arrays)
    return (idx[start],) + sums + ((None,) if len(arrays) == 1 else ())


def _shares(w: np.ndarray) -> np.ndarray:
    """Route weights (..., K) -> shares summing to 1 (all zero -> equal shares), per row."""
    total = w.sum(axis=-1, keepdims=True)
    return np.where(total > 1e-9, w / np.where(total > 1e-9, total, 1.0), 1.0 / w.shape[-1])


def _split(q: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """``three_tier._split`` batched: q (B, N) or (B, N, P) integer units, shares (B, N, K);
    returns (B, K, N) or (B, K, N, P) integer parts summing to q (cumulative rounding)."""
    cs = np.cumsum(shares, axis=-1)
    cs = cs.reshape(cs.shape + (1,) * (q.ndim - 2))                            # (B, N, K, 1...)
    cum = np.floor(cs * q[:, :, None] + 0.5).astype(np.int64)                   # (B, N, K, ...)
    cum[:, :, -1] = q
    return np.moveaxis(np.diff(cum, axis=2, prepend=0), 2, 1)
