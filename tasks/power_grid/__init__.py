"""Power-grid tasks: active voltage control on radial distribution feeders (``power_grid/IEEE33-v1``).

``ieee33()`` returns the IEEE 33-bus feeder of Baran & Wu (1989); ``solve_power_flow(network,
p_mw, q_mvar)`` is the batched exact AC power flow (``powerflow.py``).
"""

from tasks.power_grid.network import Network, ieee33, multi_feeder
from tasks.power_grid.powerflow import PowerFlowNotConverged, PowerFlowResult, solve_power_flow

__all__ = ["Network", "PowerFlowNotConverged", "PowerFlowResult", "ieee33", "multi_feeder",
           "solve_power_flow"]
