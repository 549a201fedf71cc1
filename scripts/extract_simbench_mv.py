"""Extract the SimBench medium-voltage feeder of ``power_grid/SimBenchMV-v1`` into
``tasks/power_grid/data/simbench_mv_rural.npz`` (run once; the task needs neither ``simbench`` nor
``pandapower`` at run time).

Source: the ``simbench`` package (PyPI 1.6.3), grid code ``1-MV-rural--2-sw`` (SimBench's rural
20 kV grid in its scenario 2, the projected 2034 expansion of wind and PV, with switches), and its
2016 15-minute profiles (ODbL 1.0 / DbCL 1.0, see tasks/power_grid/data/SIMBENCH_LICENSE.md).
Why scenario 2: in today's grid (``--0-``) a no-control day leaves the 0.95-1.05 band in only
15 % of intervals (wind-driven); the 2034 grid, with 29 MW of PV and 16 MW of wind on the same
lines, is the high-DER case active voltage control is for (31 %). Another code can be passed as
the first argument and an output path as the second (used to compare the scenarios).

What is kept, and how the pandapower elements become ``network.Network`` data:

* Buses. Buses joined by a closed bus-bus switch are one bus: the two 110 kV buses (the
  ext-grid bus and the second transformer's HV bus) become the slack ``HV``; the two 20 kV busbar
  sections (joined by the closed sectionaliser) become ``busbar``. Every other bus keeps its
  SimBench number (``MV1.101 Bus 47`` -> ``47``). Zone = the SimBench feeder the bus belongs to
  (``...FeederN`` -> N - 1); the busbar and the transformer's star point join feeder 1's zone.
* Lines: series ``r + jx`` (ohm) and shunt charging ``b = 2 pi f C`` (µS, total of the line; the
  pi model puts half at each end), rating ``max_i_ka``. The six normally-open loop lines (open
  load-break switch at one end) are kept switched out; ``stub_bus`` is the end where the line
  stays connected (pandapower keeps such a line energised from that end: its charging counts).
* Transformers: the two identical 25 MVA 110/20 kV units in parallel (HV and MV sides both
  coupled) are stored once with ``parallel = 2``; their data (sn, vk, vkr, pfe, i0) and the tap
  (position 0 = neutral, ratio 1: SimBench's time series do not move it).
* Ext grid: ``vm_pu`` (1.025) at the HV bus.
* Storage: scenario 2 places 90 PV home-storage units (13.8 MW). They are left out (zero power):
  their published series are never negative and, with the units' negative ``p_mw``, make
  ``simbench.get_absolute_values`` return in-feed that peaks at noon, which pandapower's sign
  convention (positive = charging) reads as the batteries discharging into the midday PV peak; we
  do not guess which sign was meant.
* Loads (each with its profile name) and static generators: PV (SimBench types ``lv_RES``, the
  aggregated PV of the LV grid behind an MV/LV substation, and ``PV_MV``) become inverter agents;
  wind, biomass and hydro are uncontrolled in-feed.
* ``nocontrol_vmax``: the highest 20 kV voltage of every interval with no control and no
  randomness, by the task's own power flow (``simbench_mv.year_vmax_no_control``; it defines the
  task's active days).
* Profiles: the columns the grid's elements use, 2016, 15-minute (35,136 rows), float32:
  load p and q multipliers per load profile, and RES multipliers per generation profile, exactly
  as ``simbench.get_absolute_values`` applies them (checked below).

    PYTHONPATH=. /work/main/.venv/bin/python scripts/extract_simbench_mv.py
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

import sys

CODE = sys.argv[1] if len(sys.argv) > 1 else "1-MV-rural--2-sw"
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else \
    Path(__file__).resolve().parents[1] / "tasks" / "power_grid" / "data" / "simbench_mv_rural.npz"
PV_TYPES = ("lv_RES", "PV_MV")


def main() -> None:
    warnings.filterwarnings("ignore")
    import simbench as sb

    net = sb.get_simbench_net(CODE)
    assert len(net.ext_grid) == 1 and len(net.trafo) == 2 and len(net.shunt) == 0
    assert len(net.gen) == 0 and len(net.impedance) == 0
    # -- buses: merge closed bus-bus switches --------------------------------------------------
    rep = {int(b): int(b) for b in net.bus.index}
    for _, s in net.switch[(net.switch.et == "b") & net.switch.closed].iterrows():
        a, b = sorted((int(s.bus), int(s.element)))
        for k, v in rep.items():
            if v == b:
                rep[k] = a
    hv = rep[int(net.ext_grid.bus.iloc[0])]
    tr = net.trafo
    assert (tr.drop(columns=["name", "hv_bus", "lv_bus"]).nunique(dropna=False) <= 1).all(), \
        "the two transformers must be identical to be stored as one with parallel = 2"
    assert {rep[int(b)] for b in tr.hv_bus} == {hv}
    mv_bb = {rep[int(b)] for b in tr.lv_bus}
    assert len(mv_bb) == 1
    mv_bb = mv_bb.pop()
    t0 = tr.iloc[0]
    assert t0.tap_pos == t0.tap_neutral and t0.vn_lv_kv == net.bus.vn_kv[mv_bb]
    assert (net.switch[net.switch.et == "t"].closed).all()
    others = [int(b) for b in net.bus.index if rep[int(b)] == int(b) and int(b) not in (hv, mv_bb)]
    names = ["HV", "T", "busbar"]
    index = {hv: 0, mv_bb: 2}
    zone = [-1, 0, 0]
    for b in others:
        m = re.fullmatch(r"MV1\.101 Bus (\d+)", str(net.bus.name[b]))
        assert m, net.bus.name[b]
        index[b] = len(names)
        names.append(m.group(1))
        f = re.search(r"Feeder(\d+)", str(net.bus.subnet[b]))
        if f is None:                   # a bus whose subnet names no feeder: its line's feeder
            touching = net.line[(net.line.from_bus == b) | (net.line.to_bus == b)].subnet
            f = re.search(r"Feeder(\d+)", " ".join(touching.astype(str)))
        zone.append(int(f.group(1)) - 1)
    idx = lambda b: index[rep[int(b)]]  # noqa: E731

    # -- lines ----------------------------------------------------------------------------------
    ln = net.line
    assert (ln.parallel == 1).all() and (ln.df == 1).all() and (ln.g_us_per_km == 0).all()
    assert ln.in_service.all()
    open_sw = net.switch[(net.switch.et == "l") & ~net.switch.closed]
    assert open_sw.element.is_unique
    stub = np.full(len(ln), -1, dtype=np.int64)
    normally_open = np.zeros(len(ln), dtype=bool)
    for _, s in open_sw.iterrows():
        li = int(s.element)
        normally_open[li] = True
        f, t = int(ln.from_bus[li]), int(ln.to_bus[li])
        stub[li] = idx(t if int(s.bus) == f else f)     # the end that stays connected
    f_hz = float(net.f_hz)
    lines = dict(
        line_from=np.array([idx(b) for b in ln.from_bus]), line_to=np.array([idx(b) for b in ln.to_bus]),
        line_r_ohm=(ln.r_ohm_per_km * ln.length_km).to_numpy(float),
        line_x_ohm=(ln.x_ohm_per_km * ln.length_km).to_numpy(float),
        line_b_us=(2 * np.pi * f_hz * ln.c_nf_per_km * 1e-9 * ln.length_km * 1e6).to_numpy(float),
        line_rating_a=(ln.max_i_ka * 1000.0).to_numpy(float),
        line_normally_open=normally_open, line_stub_bus=stub,
        line_name=ln.name.to_numpy(str))

    # -- loads, generators and their profiles ---------------------------------------------------
    prof = net.profiles
    load_types = sorted(set(net.load.profile))
    res_types = sorted(set(net.sgen.profile))
    lp = np.stack([prof["load"][f"{t}_pload"].to_numpy(float) for t in load_types], axis=1)
    lq = np.stack([prof["load"][f"{t}_qload"].to_numpy(float) for t in load_types], axis=1)
    rs = np.stack([prof["renewables"][t].to_numpy(float) for t in res_types], axis=1)
    assert lp.shape[0] == 366 * 96
    # the multipliers reproduce simbench's absolute values (element x profile)
    absv = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    li = np.array([load_types.index(t) for t in net.load.profile])
    gi = np.array([res_types.index(t) for t in net.sgen.profile])
    assert np.allclose(lp[:, li] * net.load.p_mw.to_numpy(), absv[("load", "p_mw")].to_numpy())
    assert np.allclose(lq[:, li] * net.load.q_mvar.to_numpy(), absv[("load", "q_mvar")].to_numpy())
    assert np.allclose(rs[:, gi] * net.sgen.p_mw.to_numpy(), absv[("sgen", "p_mw")].to_numpy())
    assert (net.sgen.q_mvar == 0).all() and (net.sgen.sn_mva == net.sgen.p_mw).all()
    data = dict(
        code=np.array(CODE), simbench_version=np.array(sb.__version__),
        bus_name=np.array(names), bus_zone=np.array(zone), base_kv=np.array(float(t0.vn_lv_kv)),
        slack_vm_pu=np.array(float(net.ext_grid.vm_pu.iloc[0])), f_hz=np.array(f_hz),
        trafo=np.array([t0.sn_mva, t0.vk_percent, t0.vkr_percent, t0.pfe_kw, t0.i0_percent,
                        float(len(tr))]),
        trafo_fields=np.array(["sn_mva", "vk_percent", "vkr_percent", "pfe_kw", "i0_percent", "parallel"]),
        load_bus=np.array([idx(b) for b in net.load.bus]), load_p_mw=net.load.p_mw.to_numpy(float),
        load_q_mvar=net.load.q_mvar.to_numpy(float), load_profile=li,
        gen_bus=np.array([idx(b) for b in net.sgen.bus]), gen_p_mw=net.sgen.p_mw.to_numpy(float),
        gen_type=net.sgen.type.to_numpy(str), gen_profile=gi,
        gen_is_pv=net.sgen.type.isin(PV_TYPES).to_numpy(),
        load_types=np.array(load_types), res_types=np.array(res_types),
        profile_load_p=lp.astype(np.float32), profile_load_q=lq.astype(np.float32),
        profile_res=rs.astype(np.float32), first_time=np.array(str(prof["load"].time.iloc[0])),
        **lines)
    np.savez_compressed(OUT, **data)
    # the no-control voltage of every interval, by the task's own flow (defines the active days)
    import tasks.power_grid.simbench_mv as mv
    mv.DATA = OUT
    mv.mv_data.cache_clear()
    mv.simbench_mv_rural.cache_clear()
    data["nocontrol_vmax"] = mv.year_vmax_no_control().astype(np.float32)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB): {len(names)} buses, {len(ln)} lines "
          f"({normally_open.sum()} open), {len(net.load)} loads, {len(net.sgen)} sgens "
          f"({data['gen_is_pv'].sum()} PV), profiles {lp.shape[1]} load + {rs.shape[1]} RES")


if __name__ == "__main__":
    main()
