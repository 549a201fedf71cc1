"""WMMSE on one-slot-old CSI with incumbent-aware band choice: the one anchor of
``spectrum/Interference-v2``'s score.

A central controller that receives every link's channel reports with the same one-slot delay
the agents' own measurements have (``env.delayed_csi()``: the previous slot's gains; nothing
realised later). Each slot:

1. **Incumbent-aware bands:** only sub-bands that are available and have no active incumbent this
   slot (the database's ``pu_active``, in every agent's observation) are used; the links'
   interference at an incumbent is never known to the controller (incumbents report no CSI), so
   it keeps off their bands — safe by construction.
2. **Assignment and power** as ``baselines.spectrum.wmmse_policy`` does with perfect CSI
   (greedy sequential band assignment, WMMSE per band, quantisation to the levels within each
   budget), but on last slot's gains.

Before the first slot it has the CSI of the slot before the episode (measured while nobody
transmitted). The test that it reads nothing current: ``tests/spectrum/test_v2_score.py``
redraws the channel of later slots (``perturb_future``) and checks its actions do not move.
Paradigm ``centralised`` (one controller for every link, on delayed CSI), not ``oracle``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from baselines.spectrum import TASK_V2, constants, stack, to_actions
from baselines.spectrum.wmmse_policy import wmmse_allocation
from bench.policy import PolicyInfo


class DelayedWmmsePolicy:
    """Greedy band assignment + WMMSE on one-slot-old CSI, off active incumbents' bands."""

    info = PolicyInfo(name="wmmse_delayed", version="1", paradigm="centralised",
                      description="Central controller on one-slot-old CSI (the agents' delay): greedy "
                                  "sub-band assignment and WMMSE power control (Shi et al. 2011) on "
                                  "bands without an active incumbent (the v2 score's one anchor).")
    tasks = (TASK_V2,)

    def __init__(self, env: Any) -> None:
        self.env = env
        self.c = constants(env)

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, int]:
        obs, _ = stack(observations, self.c.agents)
        view = self.env.delayed_csi()
        pu_on = obs[0, self.c.layout["pu_active"]] > 0.5                      # public, same for all
        view = replace(view, available=view.available & ~pu_on)
        band, level = wmmse_allocation(view)
        return to_actions(self.c, band, level)
