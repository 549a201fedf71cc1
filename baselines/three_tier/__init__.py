"""Reference baselines for ``supply_chain/ThreeTier-v1``.

The registered names dispatch here from ``baselines/{order_up_to,base_stock,lp_static,
lp_rolling,lp_hindsight}.py`` when ``env.spec_id == "supply_chain/ThreeTier-v1"``:

* ``order_up_to``  -> :class:`ThreeTierOrderUpTo`   (heuristics.py; the paper's PRP)
* ``base_stock``   -> :class:`ThreeTierBaseStock`   (heuristics.py; factors tuned by tune.py)
* ``lp_static``    -> :class:`ThreeTierStaticLP`    (lp.py; the paper's static LP)
* ``lp_rolling``   -> :class:`ThreeTierRollingLP`   (lp.py; model-predictive control)
* ``lp_hindsight`` -> :class:`ThreeTierHindsightLP` (lp.py; perfect-foresight oracle)
"""

from baselines.three_tier.heuristics import ThreeTierBaseStock, ThreeTierOrderUpTo
from baselines.three_tier.lp import ThreeTierHindsightLP, ThreeTierRollingLP, ThreeTierStaticLP

__all__ = ["ThreeTierBaseStock", "ThreeTierOrderUpTo", "ThreeTierHindsightLP",
           "ThreeTierRollingLP", "ThreeTierStaticLP"]
