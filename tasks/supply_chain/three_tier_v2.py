"""supply_chain/ThreeTier-v2: ThreeTier-v1's network without foresight, with one demand process.

The physics, timing of events, actions and observations are ThreeTier-v1's
(``tasks/supply_chain/three_tier.py``). What v2 changes, and why (issue 15):

* **No foresight.** v1 measured every quantity action and observation, the capacities and the
  storage in units of mu = the mean of the episode's whole mean-demand path, future seasonality
  included. v2's mu is the mean of the warm-up demand history (``history_days`` of realised
  sales before day 0), the information a real controller has; ``perturb_future`` plus
  ``bench.checks.check_no_foresight`` show that nothing observed up to t depends on what is
  realised after t (``tests/supply_chain/test_three_tier_v2.py``).
* **One demand process.** v1 drew the history and the episode as two independent stationary
  stretches, so the latent AR(1) intensity noise restarted at day 0. v2 draws the history and
  the episode in one call: eta[0] continues eta[-1].
* **Shipment noise drawn at reset.** Every lead-time and defect-rate draw of the episode is one
  array drawn at reset (per day, route and lane). v1 drew them as shipments left, so the stream
  position depended on the policy's past shipments; here day t's lead times and defect rates
  are fixed by the seed, which lets ``perturb_future`` redraw exactly days >= t0 and lets the
  vectorised engine (``tasks/supply_chain/three_tier_batch.py``) read them instead of calling
  per-episode samplers. Defective units are Binomial(q, rate) by inversion of one uniform per
  day, route and product, also drawn at reset (``binomial_by_inversion``, shared by both).
* **Pipeline stock is costed** (``transit_holding_cost`` in the spec, charged to the receiver),
  and capacity utilisation covers suppliers as well as manufacturers (it carries no weight in V;
  producing above demand is never rewarded).

The score side (V = total cost alone, the service level a constraint) lives in the spec.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from bench.spec import thaw
from tasks.supply_chain.demand import DemandModel, latent_noise
from tasks.supply_chain.three_tier import ThreeTierEnv, _per_retailer

#: units/day; mu is floored here so that a product unseen in the history keeps finite units
MIN_UNIT_DEMAND = 0.1


class ThreeTierV2Env(ThreeTierEnv):
    """ThreeTier-v1 with units from history, one continuous demand process and pipeline holding
    costs (module docstring). Actions, observations and layouts are v1's."""

    utilisation_tiers = ("supplier", "manufacturer")

    def _reset_sim(self) -> None:
        super()._reset_sim()
        self._draw_shipment_noise(0, self._rng_lead, self._rng_defect)

    def _draw_shipment_noise(self, t0: int, rng_lead: np.random.Generator,
                             rng_defect: np.random.Generator) -> None:
        """Draw (or, from day ``t0``, redraw) the episode's shipment noise: standardised lead
        times ``lead_supply`` (T, K, supply lanes) and ``lead_distribution`` (T, K, M*R),
        standardised defect rates ``defect`` (T, K, supply lanes) and the uniforms ``defect_u``
        (T, K, P) behind each product's defective count."""
        T, K, P = self.horizon, self.n_routes, self.net.n_products
        Ls, Ld = len(self.net.supply_links), len(self.net.distribution_links)
        n = T - t0
        fresh = {"lead_supply": self._lead_z.sample(rng_lead, (n, K, Ls)),
                 "lead_distribution": self._lead_z.sample(rng_lead, (n, K, Ld)),
                 "defect": self._defect_z.sample(rng_defect, (n, K, Ls)),
                 "defect_u": rng_defect.random((n, K, P))}
        if t0 == 0:
            self.noise = fresh
        else:
            for key, arr in fresh.items():
                self.noise[key] = self.noise[key].copy()
                self.noise[key][t0:] = arr

    def perturb_future(self, t0: int, seed: int) -> None:
        super().perturb_future(t0, seed)
        self._draw_shipment_noise(t0, self._rng_lead_future, self._rng_defect_future)

    def _lead_noise(self, kind: int, lanes: list[tuple[int, int]]) -> np.ndarray:
        r, k = np.array(lanes, dtype=np.int64).T
        return self.noise["lead_supply" if kind == 0 else "lead_distribution"][self.t, r, k]

    def _defect_noise(self, lanes: list[tuple[int, int]]) -> np.ndarray:
        r, k = np.array(lanes, dtype=np.int64).T
        return self.noise["defect"][self.t, r, k]

    def _defects(self, lanes: list[tuple[int, int]], qs: list[np.ndarray],
                 rates: np.ndarray) -> list[np.ndarray]:
        u = self.noise["defect_u"][self.t]
        links = self.net.supply_links
        return [binomial_by_inversion(u[r, links[k].products], q, rates[j])
                for j, ((r, k), q) in enumerate(zip(lanes, qs))]


    def _draw_demand(self) -> None:
        """Draw the demand model, then the history and the episode as ONE Poisson-log-normal
        AR(1) path over ``history_days + horizon`` days (history: multiplier 1; episode: the
        scenario's shift multiplier), so scenarios still share every draw before the onset."""
        p, R, P, T, H = self.p, self.net.n_retailers, self.net.n_products, self.horizon, self.p.history_days
        if H < 1:
            raise ValueError("ThreeTier-v2 needs parameters.history_days >= 1: the units of every "
                             "action and observation come from the demand history")
        product = DemandModel.draw(P, self._rng_model, **thaw(p.demand))
        size = np.exp(p.retailer_size_sd * self._rng_model.standard_normal(R)
                      - 0.5 * p.retailer_size_sd ** 2)
        model = _per_retailer(product, size)
        self._demand_model, self._product, self._size = model, product, size
        self._nominal_mean = model.mean(T, p.start_day)                        # (T, R*P)
        self._mult = self._shift_multiplier(product, size, self._nominal_mean)
        mean = self._nominal_mean if self._mult is None else self._nominal_mean * self._mult
        self._demand_mean = mean.reshape(T, R, P)
        full_mean = np.concatenate([model.mean(H, p.start_day - H), mean])
        self._eta = latent_noise(self._rng_demand.standard_normal((H + T, R * P)), model.ar1)
        counts = model.realise(full_mean, self._eta, self._rng_demand)
        self._history = counts[:H].reshape(H, R, P)
        self.demand = counts[H:].reshape(T, R, P)

    def _unit_demand(self) -> np.ndarray:
        """mu (R, P), units/day: the mean of the realised demand history (no foresight)."""
        return np.maximum(self._history.mean(axis=0), MIN_UNIT_DEMAND)

    def _redraw_demand(self, t0: int, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Days ``>= t0`` redrawn with the latent noise continuing from day t0 - 1 (one process)."""
        H = self.p.history_days
        model = self._demand_model
        eta = latent_noise(rng.standard_normal(mean.shape), model.ar1, eta_prev=self._eta[H + t0 - 1])
        return model.realise(mean, eta, rng)


def binomial_by_inversion(u: np.ndarray, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """Binomial(n, p) counts as the inverse CDF at uniforms ``u``: the smallest k with
    F(k) >= u, F summed from the pmf recursion f(0) = (1 - p)^n, f(j) = f(j-1) (n - j + 1) / j
    p / (1 - p). Elementwise and deterministic, so the SimPy env and the batch engine get the
    same counts from the same (u, n, p) whatever the array shapes; agrees with
    ``scipy.stats.binom.ppf`` (used where (1 - p)^n would underflow or p > 1/2).
    int64, shape of ``n``."""
    u = np.asarray(u, dtype=np.float64)
    n = np.asarray(n, dtype=np.int64)
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), n.shape)
    u = np.broadcast_to(u, n.shape)
    k = np.zeros(n.shape, np.int64)
    k[(p >= 1.0) & (n > 0)] = n[(p >= 1.0) & (n > 0)]
    live = (n > 0) & (p > 0.0) & (p < 1.0)
    hard = live & ((p > 0.5) | (n * -np.log1p(-np.minimum(p, 0.5)) > 700.0))
    if hard.any():   # underflow of (1-p)^n or large p: scipy's inverse CDF (rare here)
        k[hard] = np.clip(binom.ppf(u[hard], n[hard], p[hard]), 0, n[hard]).astype(np.int64)
    idx = np.flatnonzero((live & ~hard).ravel())
    if len(idx) == 0:
        return k
    nn, pp, uu = n.ravel()[idx].astype(np.float64), p.ravel()[idx], u.ravel()[idx]
    pmf = np.exp(nn * np.log1p(-pp))
    cdf = pmf.copy()
    ratio = pp / (1.0 - pp)
    kk = np.zeros(len(idx), np.int64)
    act = np.flatnonzero(cdf < uu)
    j = 0
    while len(act):
        j += 1
        pmf_a = pmf[act] * ((nn[act] - (j - 1)) / j) * ratio[act]
        pmf[act] = pmf_a
        cdf[act] += pmf_a
        kk[act] = j
        still = (cdf[act] < uu[act]) & (j < nn[act])
        act = act[still]
    out = k.ravel().copy()
    out[idx] = kk
    return out.reshape(n.shape)
