"""Reference controllers for ``power_grid/IEEE33-v1`` (active voltage control with PV inverters).

``no_control`` (inverters at unity power factor, no curtailment), ``volt_var`` (IEEE 1547-2018
Category B Volt-VAR curve, local), ``lindistflow`` (per-interval centralised LinDistFlow LP on a
persistence forecast, checked with the exact power flow) and ``hindsight_opf`` (oracle: per-interval
exact-flow-corrected optimal dispatch with the true profiles).
"""
