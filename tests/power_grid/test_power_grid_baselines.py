"""Reference controllers of ``power_grid/IEEE33-v1``: the IEEE 1547 curve, the LinDistFlow LP and
the oracle's solver checked on their own, then ordering sanity on a high-PV day and the anchors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

import bench
from baselines.power_grid.hindsight import HindsightPolicy, box_newton
from baselines.power_grid.lindistflow import LinDistFlowPolicy, feeder_sensitivity
from baselines.power_grid.no_control import NoControlPolicy
from baselines.power_grid.volt_var import CURVE_Q, CURVE_V, VoltVarPolicy, volt_var_q
from baselines.random_policy import RandomPolicy
from bench.episode import run_episode
from tasks.power_grid import ieee33, solve_power_flow

TASK = "power_grid/IEEE33-v1"
SPEC = bench.get_spec(TASK)


# -- the pieces ---------------------------------------------------------------------------------

def test_volt_var_curve_is_ieee1547_category_b() -> None:
    """IEEE 1547-2018 Table 8, Category B defaults: (0.92, +44 %), (0.98, 0), (1.02, 0),
    (1.08, −44 %) of nameplate apparent power, flat outside."""
    assert CURVE_V == (0.92, 0.98, 1.02, 1.08) and CURVE_Q == (0.44, 0.0, 0.0, -0.44)
    v = np.array([0.85, 0.92, 0.95, 0.98, 1.0, 1.02, 1.05, 1.08, 1.2])
    assert np.allclose(volt_var_q(v), [0.44, 0.44, 0.22, 0.0, 0.0, 0.0, -0.22, -0.44, -0.44])


def test_lindistflow_sensitivities_match_the_exact_flow() -> None:
    """∂|V|²/∂q of LinDistFlow (2 X) is within a few per cent of the exact flow's."""
    net = ieee33()
    sens = feeder_sensitivity(net)
    p, q = net.load_p_mw.copy(), net.load_q_mvar.copy()
    base = solve_power_flow(net, p, q, tol=1e-13).vm_pu ** 2
    i = 1                                                 # the inverter at bus 18
    q2 = q.copy()
    q2[net.pv_bus[i]] -= 0.01                             # inject 0.01 Mvar
    exact = (solve_power_flow(net, p, q2, tol=1e-13).vm_pu ** 2 - base) / 0.01
    model = np.zeros(net.n_bus)
    model[sens.bus[0]] = sens.dq[0][:, i]
    rel = np.abs(model[1:] - exact[1:]).max() / np.abs(exact).max()
    assert rel < 0.1


def test_box_newton_matches_a_reference_solver() -> None:
    rng = np.random.default_rng(0)
    N, n, r, mu = 12, 6, 10, 1e3
    m = rng.normal(size=(N, n, n))
    h = m @ np.swapaxes(m, 1, 2) + 0.1 * np.eye(n)
    g = rng.normal(size=(N, n))
    a = rng.normal(size=(N, r, n))
    b = rng.normal(size=(N, r))
    lo, hi = -np.ones((N, n)), np.ones((N, n))
    u = box_newton(h, g, a, b, lo, hi, mu, np.zeros((N, n)), iters=200)

    def f(x, i):
        v = np.maximum(a[i] @ x - b[i], 0)
        return 0.5 * x @ h[i] @ x + g[i] @ x + 0.5 * mu * v @ v

    def df(x, i):
        return h[i] @ x + g[i] + mu * a[i].T @ np.maximum(a[i] @ x - b[i], 0)

    for i in range(N):
        ref = minimize(f, np.zeros(n), args=(i,), jac=df, bounds=list(zip(lo[i], hi[i])),
                       method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
        assert f(u[i], i) <= ref.fun + 1e-6 * max(1.0, abs(ref.fun))
        assert np.all(u[i] >= lo[i]) and np.all(u[i] <= hi[i])


# -- ordering sanity on a high-PV day -------------------------------------------------------------

def _records(policy_cls, seeds, **kw):
    env = bench.make(TASK, **kw)
    env.reset(seed=seeds[0])
    policy = policy_cls(env)
    return [run_episode(env, policy, s, SPEC) for s in seeds]


@pytest.fixture(scope="module")
def summer() -> dict[str, list[dict]]:
    """Three midsummer days (day 172): high PV, overvoltage at noon and undervoltage at night."""
    seeds = (31, 32, 33)
    return {name: _records(cls, seeds, day_of_year=172)
            for name, cls in [("random", RandomPolicy), ("no_control", NoControlPolicy),
                              ("volt_var", VoltVarPolicy), ("lindistflow", LinDistFlowPolicy),
                              ("hindsight", HindsightPolicy)]}


def _mean(recs: list[dict], key: str) -> float:
    return float(np.mean([r["kpis"][key] if key in r["kpis"] else r[key] for r in recs]))


def test_high_pv_day_has_overvoltage_without_control(summer) -> None:
    assert _mean(summer["no_control"], "controllable_rate") < 0.85


def test_controllers_improve_the_controllable_rate(summer) -> None:
    nc = _mean(summer["no_control"], "controllable_rate")
    assert _mean(summer["volt_var"], "controllable_rate") > nc + 0.05
    assert _mean(summer["lindistflow"], "controllable_rate") > nc + 0.1
    assert _mean(summer["random"], "controllable_rate") < nc


def test_oracle_is_not_beaten(summer) -> None:
    oracle = summer["hindsight"]
    assert _mean(oracle, "controllable_rate") == 1.0
    for name, recs in summer.items():
        if name != "hindsight":
            assert _mean(oracle, "V") >= _mean(recs, "V"), name
            assert _mean(oracle, "controllable_rate") >= _mean(recs, "controllable_rate"), name
    # it keeps the band at less loss than the controllers that also keep it mostly
    for name in ("volt_var", "lindistflow"):
        assert _mean(oracle, "line_loss") < _mean(summer[name], "line_loss"), name


def test_oracle_decisions_are_locally_optimal() -> None:
    """Nudging the oracle's reactive set-points (keeping the band) never lowers loss + curtailment."""
    env = bench.make(TASK, day_of_year=172)
    env.reset(seed=31)
    pol = HindsightPolicy(env)
    pol.reset(31)
    pol.act({a: np.zeros(env.obs_dim, np.float32) for a in env.possible_agents})
    rng = np.random.default_rng(0)
    net = env.network
    for t in (20, 50, 76):
        row = t + 1
        q0 = pol.q_plan[t]
        p = np.minimum(env.day.pv_mw[row], env.s_max) - pol.c_plan[t]

        def cost(q):
            lp = env.day.load_p_mw[row].copy()
            lq = env.day.load_q_mvar[row].copy()
            lp[net.pv_bus] -= p
            lq[net.pv_bus] -= q
            res = solve_power_flow(net, lp, lq)
            inside = res.vm_pu[1:].min() >= 0.95 and res.vm_pu.max() <= 1.05
            return res.loss_mw, inside

        base, ok = cost(q0)
        assert ok
        checked = 0
        for _ in range(20):
            loss, inside = cost(q0 + rng.normal(scale=0.02, size=q0.shape))
            if inside:
                checked += 1
                assert loss >= base - 2e-4            # MW: optimal up to the model's accuracy
        assert checked >= 5


# -- anchors are what the documented procedure measures ---------------------------------------------

def _measure_module():
    path = Path(__file__).resolve().parents[2] / "scripts" / "measure_anchors_power_grid.py"
    spec = importlib.util.spec_from_file_location("measure_anchors_power_grid", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(measured: dict, scales: list[str], spec=SPEC) -> None:
    nominal = spec.nominal_scale.name
    for kpi in spec.kpis:
        m = measured[kpi.name]
        if nominal in scales and "zero" in m:
            assert kpi.anchors == pytest.approx((m["zero"], m["one"]), rel=2e-3, abs=1e-4), kpi.name
        for scale, pair in m.get("scales", {}).items():
            assert kpi.anchors_at(scale) == pytest.approx((pair["zero"], pair["one"]), rel=2e-3,
                                                          abs=1e-4), (kpi.name, scale)


def test_nominal_scale_anchors_match_the_measuring_script() -> None:
    _check(_measure_module().measure(["f1"]), ["f1"])


@pytest.mark.slow
def test_all_anchors_match_the_measuring_script() -> None:
    scales = [s.name for s in SPEC.scales]
    _check(_measure_module().measure(scales), scales)
