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
  per-episode samplers. Defective units are one Binomial(q, rate) call per day over the whole
  (route, product) array, so the engine makes the same call on the same generator.
* **Pipeline stock is costed** (``transit_holding_cost`` in the spec, charged to the receiver),
  and capacity utilisation covers suppliers as well as manufacturers (it carries no weight in V;
  producing above demand is never rewarded).

The score side (V = total cost alone, the service level a constraint) lives in the spec.
"""

from __future__ import annotations

import numpy as np

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
        and standardised defect rates ``defect`` (T, K, supply lanes)."""
        T, K = self.horizon, self.n_routes
        Ls, Ld = len(self.net.supply_links), len(self.net.distribution_links)
        n = T - t0
        fresh = {"lead_supply": self._lead_z.sample(rng_lead, (n, K, Ls)),
                 "lead_distribution": self._lead_z.sample(rng_lead, (n, K, Ld)),
                 "defect": self._defect_z.sample(rng_defect, (n, K, Ls))}
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
        """One Binomial call per day on the (route, product) arrays: q = units shipped (0 where
        nothing shipped), p = the rate of the product's lane (0 off today's lanes)."""
        K, P = self.n_routes, self.net.n_products
        links = self.net.supply_links
        q_full, p_full = np.zeros((K, P), np.int64), np.zeros((K, P))
        for (r, k), q, rate in zip(lanes, qs, rates):
            q_full[r, links[k].products] = q
            p_full[r, links[k].products] = rate
        defects = self._shipment_rngs()[1].binomial(q_full, p_full)
        return [defects[r, links[k].products] for r, k in lanes]
