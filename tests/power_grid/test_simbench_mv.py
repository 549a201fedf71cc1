"""``power_grid/SimBenchMV-v1``: the SimBench rural MV grid against pandapower's ``runpp`` on the
same network (the reference case and random load / PV / reactive states, through the env
itself), the extract against the ``simbench`` package, the no-foresight check, monotone failure
scoring, the spec and the days."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bench
from bench.checks import check_no_foresight, check_task
from tasks.power_grid import solve_power_flow
from tasks.power_grid.simbench_mv import mv_data, simbench_mv_rural
from tasks.power_grid.voltage_control import VoltageControlEnv

TASK = "power_grid/SimBenchMV-v1"
SPEC = bench.get_spec(TASK)
NET = simbench_mv_rural()


def make(**kw) -> VoltageControlEnv:
    return bench.make(TASK, **kw)


# -- pandapower on the same network ------------------------------------------------------------------

@pytest.fixture(scope="module")
def pp_net():
    """The SimBench grid as pandapower builds it, with its loads, generators and storage removed
    (the states below are set as one load per bus), and a map from our bus names to its buses."""
    pp = pytest.importorskip("pandapower")
    sb = pytest.importorskip("simbench")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = sb.get_simbench_net(str(mv_data()["code"]))
    for table in ("load", "sgen", "storage"):
        net[table].drop(net[table].index, inplace=True)
    where = {}
    for b in net.bus.index:
        name = str(net.bus.name[b])
        if net.bus.vn_kv[b] > 100:
            where.setdefault("HV", b)
        elif "busbar" in name:
            where.setdefault("busbar", b)
        else:
            where[name.split()[-1]] = b
    assert set(where) == set(NET.bus_names) - {"T"}
    return pp, net, where


def run_pp(pp_net, p_mw: np.ndarray, q_mvar: np.ndarray) -> np.ndarray:
    """pandapower's voltage magnitudes (our bus order, NaN at the star point T) for net loads."""
    pp, net, where = pp_net
    net.load.drop(net.load.index, inplace=True)
    for i, name in enumerate(NET.bus_names):
        if name in ("HV", "T"):
            continue
        pp.create_load(net, where[name], p_mw=float(p_mw[i]), q_mvar=float(q_mvar[i]))
    pp.runpp(net, tolerance_mva=1e-11)
    return np.array([np.nan if n == "T" else net.res_bus.vm_pu[where[n]] for n in NET.bus_names])


def test_reference_case_matches_pandapower(pp_net) -> None:
    """SimBench's reference values (every load at p_mw / q_mvar, every generator at p_mw, no
    storage): voltages, network loss and ext-grid power agree with pandapower."""
    d = mv_data()
    p = np.bincount(d["load_bus"], weights=d["load_p_mw"], minlength=NET.n_bus) \
        - np.bincount(d["gen_bus"], weights=d["gen_p_mw"], minlength=NET.n_bus)
    q = np.bincount(d["load_bus"], weights=d["load_q_mvar"], minlength=NET.n_bus)
    res = solve_power_flow(NET, p, q, tol=1e-12)
    vm = run_pp(pp_net, p, q)
    ok = ~np.isnan(vm)
    assert np.abs(res.vm_pu[ok] - vm[ok]).max() < 1e-6
    net = pp_net[1]
    assert abs(res.loss_mw - (net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum())) < 1e-6
    assert abs(res.slack_p_mw - net.res_ext_grid.p_mw.sum()) < 1e-6
    assert abs(res.slack_q_mvar - net.res_ext_grid.q_mvar.sum()) < 1e-6
    assert res.vm_pu.max() > 1.05, "the reference case (all generators at rating) is an overvoltage case"


def test_env_states_match_pandapower(pp_net) -> None:
    """Random actions on the env itself (solver, warm start, tolerance as the task runs them): the
    voltages the env measured in each interval are pandapower's for the same injections."""
    env = make()
    env.reset(seed=200001)
    rng = np.random.default_rng(5)
    for _ in range(3):                   # warm starts come from the previous interval
        env.step({a: np.array([0.0, 0.0], np.float32) for a in env.agents})
    worst = 0.0
    for t in range(6):
        acts = {a: np.array([rng.uniform(-1, 1), rng.uniform(0, 1)], np.float32) for a in env.agents}
        row = env.t + 1
        env.step(acts)
        m = env._meas[-1]
        p = env.day.load_p_mw[row].copy()
        q = env.day.load_q_mvar[row].copy()
        p[NET.pv_bus] -= m["p"]
        q[NET.pv_bus] -= m["q"]
        vm = run_pp(pp_net, p, q)
        ok = ~np.isnan(vm)
        worst = max(worst, float(np.abs(m["v"][:NET.n_bus][ok] - vm[ok]).max()))
    assert worst < 1e-6, worst


def test_random_states_match_pandapower(pp_net) -> None:
    """Loads from 0 to 2x, PV from 0 to its rating and reactive power of either sign at every
    inverter, plus the line-outage reconfiguration: agreement within 1e-6 p.u."""
    rng = np.random.default_rng(11)
    for _ in range(4):
        p = NET.load_p_mw * rng.uniform(0.0, 2.0, NET.n_bus)
        q = NET.load_q_mvar * rng.uniform(-0.5, 2.0, NET.n_bus)
        p[NET.pv_bus] -= rng.uniform(0.0, 1.0, len(NET.pv_bus)) * NET.pv_p_max_mw
        q[NET.pv_bus] -= rng.uniform(-1.0, 1.0, len(NET.pv_bus)) * NET.pv_p_max_mw
        res = solve_power_flow(NET, p, q)
        vm = run_pp(pp_net, p, q)
        ok = ~np.isnan(vm)
        assert np.abs(res.vm_pu[ok] - vm[ok]).max() < 1e-6


def test_extract_matches_the_simbench_package() -> None:
    """The shipped extract is what scripts/extract_simbench_mv.py makes of the installed package
    (line data, loads, generators and their series at full precision of the float32 store)."""
    sb = pytest.importorskip("simbench")
    d = mv_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = sb.get_simbench_net(str(d["code"]))
    assert np.allclose(d["line_r_ohm"], net.line.r_ohm_per_km * net.line.length_km)
    assert np.allclose(d["line_b_us"], 2e-3 * np.pi * 50 * net.line.c_nf_per_km * net.line.length_km)
    assert np.allclose(d["load_p_mw"], net.load.p_mw) and np.allclose(d["gen_p_mw"], net.sgen.p_mw)
    prof = net.profiles["renewables"][list(d["res_types"])].to_numpy(float)
    assert np.allclose(d["profile_res"], prof, atol=1e-6)
    assert int(d["line_normally_open"].sum()) == int((~net.switch.closed).sum())


# -- the task ------------------------------------------------------------------------------------------

def test_spec_and_env() -> None:
    env = make()
    assert SPEC.nominal_scale.agents == len(env.possible_agents) == 90
    obs, _ = env.reset(seed=200001)
    assert env.network is NET or env.network.name == NET.name
    assert all(o.shape == (env.obs_dim,) for o in obs.values())
    assert env.state().shape == env._state_template().shape
    # the star point of the transformer model is neither observed nor scored
    t_bus = NET.bus_names.index("T")
    assert t_bus not in env._live_bus and not (env.layout.zone_bus == t_bus).any()


def test_every_eval_day_is_a_control_problem() -> None:
    """days: active — each eval seed draws an eval-week day on which no control leaves the band
    for at least an hour, and in the env (with the day's random load deviations) no control
    leaves the band on the first two eval seeds' days."""
    from tasks.power_grid.simbench_mv import active_days
    from tasks.power_grid.simbench_profiles import pool_days
    env = make()
    active = active_days(env.v_max)
    for seed in SPEC.seeds.eval:
        env.reset(seed=seed)
        day = env.day.profiles.day_of_year - 1
        assert day in active and day in pool_days("eval")
    for seed in SPEC.seeds.eval[:2]:
        env.reset(seed=seed)
        out = 0
        for _ in range(96):
            env.step({a: np.zeros(2, np.float32) for a in env.agents})
            out += float(env._meas[-1]["v"][env._live_bus].max()) > env.v_max
        assert out >= 1, seed


def test_shipped_no_control_voltages_are_the_flows() -> None:
    """``nocontrol_vmax`` (which defines the active days) is the task's own flow of SimBench's
    series with no control: recomputed for three days."""
    d = mv_data()
    rows = np.concatenate([np.arange(96) + 96 * k for k in (10, 200, 331)])
    n = NET.n_bus
    p = np.zeros((len(rows), n))
    q = np.zeros((len(rows), n))
    np.add.at(p.T, d["load_bus"], (d["profile_load_p"][rows][:, d["load_profile"]] * d["load_p_mw"]).T)
    np.add.at(q.T, d["load_bus"], (d["profile_load_q"][rows][:, d["load_profile"]] * d["load_q_mvar"]).T)
    np.subtract.at(p.T, d["gen_bus"], (d["profile_res"][rows][:, d["gen_profile"]] * d["gen_p_mw"]).T)
    p[:, NET.slack_bus] = q[:, NET.slack_bus] = 0.0
    vmax = solve_power_flow(NET, p, q).vm_pu[:, NET.zone >= 0].max(axis=1)
    assert np.allclose(vmax, d["nocontrol_vmax"][rows], atol=1e-6)


def test_heat_wave_scales_loads_not_the_wind() -> None:
    """heat_wave multiplies the loads; the wind, biomass and hydro in-feed netted into the bus
    loads is unchanged."""
    from tasks.power_grid.simbench_mv import uncontrolled_mw
    base, hot = make(), make(scenario="heat_wave")
    base.reset(seed=200001)
    hot.reset(seed=200001)
    r0 = int(SPEC.scenario("heat_wave").shift["onset"]) + 1
    gen = uncontrolled_mw(base.day.profiles.day_of_year - 1, NET.n_bus)[r0:]
    assert np.allclose(hot.day.load_p_mw[r0:] + gen, 1.5 * (base.day.load_p_mw[r0:] + gen))
    assert np.array_equal(hot.day.load_p_mw[:r0], base.day.load_p_mw[:r0])


def test_pushing_to_collapse_never_pays() -> None:
    """At 18:45 of eval seed 200001 every inverter absorbs harder and harder reactive power,
    then the inverters grow (s_max_ratio up to 3) until the flow has no solution: the team reward
    never rises, up to and past the collapse, and the collapse is the worst of all."""
    ladder = [(aq, 1.0) for aq in np.linspace(-0.6, -1.0, 5)] + [(-1.0, s) for s in (1.5, 2.0, 2.5, 3.0)]
    rewards, failed = [], []
    for aq, smax in ladder:
        env = make(s_max_ratio=smax)
        env.reset(seed=200001)
        for _ in range(75):
            env.step({a: np.zeros(2, np.float32) for a in env.agents})
        _, rew, _, _, inf = env.step({a: np.array([aq, 0.0], np.float32) for a in env.agents})
        rewards.append(float(sum(rew.values())))
        failed.append(inf[env.possible_agents[0]]["kpi"]["pf_failures"])
    assert failed[0] == 0 and failed[-1] == 1, (failed, rewards)
    assert all(b <= a for a, b in zip(rewards, rewards[1:])), rewards
    assert max(r for r, f in zip(rewards, failed) if f) < min(r for r, f in zip(rewards, failed) if not f)


def test_no_foresight() -> None:
    assert check_no_foresight(make, seed=200003, t0=40) == []


@pytest.mark.parametrize("scenario", ["cloud_transients", "heat_wave"])
def test_no_foresight_under_shifts(scenario: str) -> None:
    assert check_no_foresight(lambda: make(scenario=scenario), seed=7, t0=50) == []


def test_check_task_passes() -> None:
    assert check_task(TASK, max_steps=8) == []
