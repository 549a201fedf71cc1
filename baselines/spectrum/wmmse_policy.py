"""WMMSE power control per sub-band, with a greedy sub-band assignment, on perfect current CSI.

The classical centralised reference (Shi et al. 2011; used with perfect CSI by Sun et al. 2018
and Nasir & Guo 2019). Paradigm ``oracle``: it reads the slot's true gains through
``env.oracle_view()``. Each slot:

1. **Sub-band assignment** (greedy, sequential): links in decreasing order of their best direct
   gain each take the available band that maximises their own SINR at full budget power given
   the links already placed (noise, external interference and the placed links' interference),
   preferring bands where their full-power contribution keeps every active incumbent's
   aggregate below its threshold.
2. **Power control:** WMMSE (``baselines.spectrum.wmmse.wmmse``: full-power start, 100 iterations or
   improvement <= 1e-3 bit/s/Hz, per sample) on each sub-band's interference channel — links on
   different bands do not interfere — all M sub-bands as one batch, with each device's budget as
   ``p_max`` and noise plus external interference as the noise.
3. **Quantisation** to the nearest power level in dB within the budget (silence if WMMSE's power
   is more than 3 dB below the lowest level).
4. **Incumbent protection:** while an active incumbent's aggregate interference (true gains)
   exceeds its threshold, the largest contributor on its band drops to the highest lower power
   level that would fix the excess on its own, or to silence — so the allocation is always
   feasible.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.spectrum import TASKS, constants, quantize_powers, to_actions
from baselines.spectrum.wmmse import wmmse
from bench.policy import PolicyInfo
from tasks.spectrum.interference import OracleView


def greedy_assignment(view: OracleView) -> np.ndarray:
    """Band per link (−1 if no band is available) by the sequential greedy rule above."""
    G, budget = view.gains, view.budget_mw
    M, K, _ = G.shape
    avail = [int(m) for m in np.flatnonzero(view.available)]
    band = np.full(K, -1, dtype=np.int64)
    if not avail:
        return band
    idx = np.arange(K)
    direct = G[:, idx, idx]                                          # (M, K)
    order = np.argsort(-direct[avail].max(axis=0), kind="stable")
    # noise + external + interference from the links placed so far, per band and receiver
    received = view.external_mw + view.noise_mw                      # (M, K)
    gain_b = direct * budget                                         # signal at full budget power
    thr = view.threshold_mw
    pu = [(int(b), view.primary_gain[u] * budget) for u, b in enumerate(view.primary_band)]
    pu_load = [0.0] * len(pu)
    for k in order.tolist():
        best, best_m, best_any, best_any_m = -1.0, -1, -1.0, -1
        for m in avail:
            sinr = gain_b[m, k] / received[m, k]
            if sinr > best_any:
                best_any, best_any_m = sinr, m
            if sinr > best and all(b != m or pu_load[i] + add[k] <= thr for i, (b, add) in enumerate(pu)):
                best, best_m = sinr, m
        m = best_m if best_m >= 0 else best_any_m       # prefer bands that keep incumbents safe
        band[k] = m
        received[m] += G[m, :, k] * budget[k]
        received[m, k] -= gain_b[m, k]                                # own signal is not interference
        for i, (b, add) in enumerate(pu):
            if b == m:
                pu_load[i] += add[k]
    return band


def protect_primaries(view: OracleView, band: np.ndarray, level: np.ndarray) -> np.ndarray:
    """While an active incumbent is above its threshold, its largest contributor drops to the
    highest lower level that fixes the excess on its own, or to silence; returns the levels
    (−1 = silent)."""
    level = level.copy()
    if not len(view.primary_band):
        return level
    lv = view.levels_mw
    while True:
        p = np.where(level >= 0, lv[np.maximum(level, 0)], 0.0)
        on = band[None, :] == view.primary_band[:, None]                 # (U', K)
        contrib = on * view.primary_gain * p                              # (U', K)
        load = contrib.sum(axis=1)
        u = int(np.argmax(load / view.threshold_mw))
        if load[u] <= view.threshold_mw:
            return level
        k = int(np.argmax(contrib[u]))
        rest = load[u] - contrib[u, k]
        lower = [l_ for l_ in range(level[k] + 1, len(lv))
                 if rest + view.primary_gain[u, k] * lv[l_] <= view.threshold_mw]
        level[k] = lower[0] if lower else -1


def per_band_powers(view: OracleView, band: np.ndarray) -> np.ndarray:
    """WMMSE powers (mW) for an assignment: one sample per sub-band in one batched call, each
    sample the interference channel of that band's links (padded with silent dummy links, whose
    zero gains and zero budget leave the others untouched)."""
    K = len(band)
    M = view.gains.shape[0]
    members = [np.flatnonzero(band == m) for m in range(M)]
    n = max((len(x) for x in members), default=0)
    power = np.zeros(K)
    if n == 0:
        return power
    G = np.zeros((M, n, n))
    P = np.zeros((M, n))
    N = np.ones((M, n))
    for m, links in enumerate(members):
        c = len(links)
        if c:
            G[m, :c, :c] = view.gains[m][np.ix_(links, links)]
            P[m, :c] = view.budget_mw[links]
            N[m, :c] = view.noise_mw + view.external_mw[m, links]
    out = wmmse(G, P, N)
    for m, links in enumerate(members):
        power[links] = out[m, :len(links)]
    return power


def wmmse_allocation(view: OracleView, band: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(band, level) of the WMMSE policy for one slot (steps 1-4 of the module docstring)."""
    if band is None:
        band = greedy_assignment(view)
    power = per_band_powers(view, band)
    level = quantize_powers(power, view.levels_mw, view.budget_mw)
    level = np.where(band >= 0, level, -1)
    level = protect_primaries(view, band, level)
    band = np.where(level >= 0, band, -1)
    return band, level


class WmmsePolicy:
    """WMMSE power control per sub-band with greedy sub-band assignment, perfect current CSI."""

    info = PolicyInfo(name="wmmse", version="1", paradigm="oracle",
                      description="Greedy sub-band assignment, then WMMSE power control (Shi et al. "
                                  "2011) per sub-band on perfect current CSI, quantised to the "
                                  "power levels; incumbent thresholds enforced.")
    tasks = TASKS
    privileged = ("oracle_view",)  # the true channel gains (bench.policy.privileged_info)

    def __init__(self, env: Any) -> None:
        self.env = env
        self.c = constants(env)

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, int]:
        band, level = wmmse_allocation(self.env.oracle_view())
        return to_actions(self.c, band, level)
