"""IEEE 1547-2018 Volt-VAR droop (Category B default curve), run locally by every inverter.

IEEE Std 1547-2018 ("Interconnection and interoperability of distributed energy resources with
associated electric power systems interfaces"), Table 8, default Volt-VAR settings for a
Category B DER, with the reference voltage V_ref = V_N = 1.0 p.u.:

    V1 = V_ref − 0.08 = 0.92 p.u.   Q1 = +44 % of nameplate apparent power (injection)
    V2 = V_ref − 0.02 = 0.98 p.u.   Q2 = 0
    V3 = V_ref + 0.02 = 1.02 p.u.   Q3 = 0
    V4 = V_ref + 0.08 = 1.08 p.u.   Q4 = −44 % (absorption)

linear between the points and flat beyond V1 and V4. Nameplate apparent power is the inverter's
``s_max`` (= ``s_max_ratio · p_max``); 44 % of it always fits beside full active output when
``s_max_ratio ≥ 1.1`` (at 1.2, √(1.44 − 1) = 0.66 p_max = 0.55 s_max), so the curve never asks for
more than the inverter's headroom and no active power is curtailed (the standard's optional
Volt-Watt function starts at 1.06 p.u., outside this task's 0.95-1.05 band, and is not used).

Discrete time. A real inverter follows the curve continuously and settles, within seconds (the
standard's open-loop response time, 5 s by default), at the point where its output and its
terminal voltage agree. Our agent only sees the last 15-minute measurement, so it approaches that
equilibrium by a first-order update, the discrete counterpart of the response-time filter:

    q_t = q_{t−1} + α (Q(v_{t−1}) − q_{t−1}),      α = 0.5,

which converges where the undamped map ``q_t = Q(v_{t−1})`` oscillates: with six inverters on
one feeder the loop gain of the curve's slope (0.44 / 0.06 s_max per p.u.) through the feeder's
reactance exceeds one. Local and decentralised: each inverter uses only its own observation
(its voltage, its last reactive output, its rating).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from bench.policy import PolicyInfo

TASKS = ("power_grid/IEEE33-v1", "power_grid/IEEE33-v2", "power_grid/SimBenchMV-v1")
CURVE_V = (0.92, 0.98, 1.02, 1.08)     # IEEE 1547-2018 Table 8, Category B: V1..V4 (p.u.)
CURVE_Q = (0.44, 0.0, 0.0, -0.44)      # Q1..Q4 as a fraction of nameplate apparent power
ALPHA = 0.5                            # first-order update toward the curve (see docstring)

# observation fields (tasks/power_grid/voltage_control.py)
OBS_STATUS, OBS_P_MAX, OBS_P, OBS_Q, OBS_V = 2, 3, 5, 6, 7


def volt_var_q(v_pu: np.ndarray) -> np.ndarray:
    """Reactive power set-point of the Category B default curve, as a fraction of s_max."""
    return np.interp(v_pu, CURVE_V, CURVE_Q)


class VoltVarPolicy:
    """IEEE 1547-2018 Category B default Volt-VAR curve on each inverter's own voltage."""

    info = PolicyInfo(name="volt_var", version="1", paradigm="heuristic",
                      description="IEEE 1547-2018 Category B default Volt-VAR droop, local to each "
                                  "inverter (first-order update toward the curve).")
    tasks = TASKS

    def __init__(self, env: Any, alpha: float = ALPHA) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self.s_max_ratio = float(env.params["s_max_ratio"])
        self.width = {a: env.action_space(a).shape[0] for a in env.possible_agents}

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        agents = list(observations)
        obs = np.stack([np.asarray(observations[a], dtype=np.float64) for a in agents])
        s_max = self.s_max_ratio * obs[:, OBS_P_MAX]
        q_prev = obs[:, OBS_Q] / s_max
        target = volt_var_q(obs[:, OBS_V])
        q = (q_prev + self.alpha * (target - q_prev)) * s_max            # Mvar
        p_ref = np.minimum(np.abs(obs[:, OBS_P]), s_max)
        head = np.sqrt(s_max ** 2 - p_ref ** 2)                          # headroom the action scales
        a_q = np.where(head > 1e-9, np.clip(q / np.maximum(head, 1e-9), -1.0, 1.0), 0.0)
        a_q = np.where(obs[:, OBS_STATUS] > 0.5, a_q, 0.0)
        out = {}
        for i, a in enumerate(agents):
            act = np.zeros(self.width[a], dtype=np.float32)
            act[0] = a_q[i]
            out[a] = act
        return out
