"""The batched radial power flow: published base case, agreement with pandapower's Newton-Raphson,
exact power balance against an independently assembled bus admittance matrix, batching, and
detected non-convergence."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pytest

from tasks.power_grid import PowerFlowNotConverged, ieee33, multi_feeder, solve_power_flow
from tasks.power_grid.network import (
    BASE_MVA, IEEE33_ZONES, Network, build_network, derive_line_ratings)

NET = ieee33()


def to_pandapower(net: Network, p_mw: np.ndarray, q_mvar: np.ndarray) -> pp.pandapowerNet:
    """The same network in pandapower: one bus per bus, a 1 km line per in-service line with our
    r and x (no shunt capacitance), the net load of every bus as a PQ load, and an external grid
    at the substation holding ``slack_vm_pu``."""
    pn = pp.create_empty_network(sn_mva=BASE_MVA)
    for name in net.bus_names:
        pp.create_bus(pn, vn_kv=net.base_kv, name=name)
    pp.create_ext_grid(pn, bus=net.slack_bus, vm_pu=net.slack_vm_pu, va_degree=0.0)
    for li in np.flatnonzero(net.in_service):
        pp.create_line_from_parameters(
            pn, from_bus=int(net.line_from[li]), to_bus=int(net.line_to[li]), length_km=1.0,
            r_ohm_per_km=float(net.r_ohm[li]), x_ohm_per_km=float(net.x_ohm[li]),
            c_nf_per_km=0.0, max_i_ka=float(net.rating_ka[li]))
    for b in range(net.n_bus):
        if b != net.slack_bus:
            pp.create_load(pn, bus=b, p_mw=float(p_mw[b]), q_mvar=float(q_mvar[b]))
    return pn


def run_pandapower(net: Network, p_mw: np.ndarray, q_mvar: np.ndarray) -> tuple[np.ndarray, float]:
    pn = to_pandapower(net, p_mw, q_mvar)
    pp.runpp(pn, algorithm="nr", tolerance_mva=1e-10, calculate_voltage_angles=True, numba=False)
    return pn.res_bus.vm_pu.to_numpy(), float(pn.res_line.pl_mw.sum())


def random_states(net: Network, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random load (0-1.5 x base) and PV injections (0-1.5 MW at the PV buses) with random
    reactive power (±1.5 Mvar): reverse flows and overvoltages included."""
    scale = rng.uniform(0.0, 1.5, size=(n, net.n_bus))
    p = net.load_p_mw * scale
    q = net.load_q_mvar * scale
    p[:, net.pv_bus] -= rng.uniform(0.0, 1.5, size=(n, len(net.pv_bus)))
    q[:, net.pv_bus] -= rng.uniform(-1.5, 1.5, size=(n, len(net.pv_bus)))
    return p, q


# -- the published base case -------------------------------------------------------------------

def test_base_case_reproduces_baran_wu() -> None:
    """Baran & Wu's 33-bus base case at 1.0 p.u.: 202.7 kW of loss (202.67 kW in the literature,
    pandapower 3.5's case33bw 202.68 kW) and the lowest voltage 0.9131 p.u. at bus 18."""
    res = solve_power_flow(NET, NET.load_p_mw, NET.load_q_mvar)
    assert res.converged
    assert res.loss_mw * 1000 == pytest.approx(202.68, abs=0.01)
    assert NET.bus_names[int(np.argmin(res.vm_pu))] == "18"
    assert res.vm_pu.min() == pytest.approx(0.91309, abs=1e-5)
    # total demand and the substation's supply: 3715 kW + j2300 kvar plus the losses
    assert NET.load_p_mw.sum() == pytest.approx(3.715)
    assert NET.load_q_mvar.sum() == pytest.approx(2.300)
    assert res.slack_p_mw == pytest.approx(3.715 + res.loss_mw, abs=1e-9)
    vm, loss = res                                    # unpacks as (voltages, loss)
    assert vm.shape == (33,) and loss == res.loss_mw


def test_base_case_matches_pandapower_case33bw() -> None:
    """Our shipped data reproduce pandapower's own copy of the feeder (MATPOWER's case33bw)."""
    import pandapower.networks as pnets

    ref = pnets.case33bw()
    pp.runpp(ref, numba=False)
    res = solve_power_flow(NET, NET.load_p_mw, NET.load_q_mvar)
    assert np.abs(res.vm_pu - ref.res_bus.vm_pu.to_numpy()).max() < 1e-6
    assert res.loss_mw == pytest.approx(float(ref.res_line.pl_mw.sum()), abs=1e-6)


def test_data_files_are_baran_wu() -> None:
    assert NET.n_bus == 33 and NET.n_lines == 37
    assert NET.normally_open.sum() == 5 and NET.in_service.sum() == 32
    ties = {(NET.bus_names[a], NET.bus_names[b]) for a, b in
            zip(NET.line_from[NET.normally_open], NET.line_to[NET.normally_open])}
    assert ties == {("8", "21"), ("9", "15"), ("12", "22"), ("18", "33"), ("25", "29")}
    assert NET.base_kv == 12.66
    assert [NET.bus_names[b] for b in NET.pv_bus] == ["13", "18", "22", "25", "29", "33"]
    assert sorted(np.flatnonzero(NET.zone >= 0) + 1) == sorted(b for z in IEEE33_ZONES for b in z)


def test_line_ratings_follow_the_documented_rule() -> None:
    assert np.allclose(derive_line_ratings(NET), NET.rating_ka * 1000.0)


# -- agreement with pandapower's Newton-Raphson ---------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_states_agree_with_pandapower(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = random_states(NET, rng, 4)
    res = solve_power_flow(NET, p, q)
    assert res.converged.all()
    for i in range(len(p)):
        vm_ref, loss_ref = run_pandapower(NET, p[i], q[i])
        assert np.abs(res.vm_pu[i] - vm_ref).max() < 1e-6
        assert res.loss_mw[i] == pytest.approx(loss_ref, abs=1e-6)
    assert (res.vm_pu > 1.05).any() or (res.vm_pu < 0.95).any()    # the band is left


def test_reconfigured_and_multi_feeder_networks_agree_with_pandapower() -> None:
    rng = np.random.default_rng(7)
    outage = NET.reconfigure(open_lines=[NET.line("28", "29")], close_lines=[NET.line("25", "29")])
    p, q = random_states(outage, rng, 2)
    res = solve_power_flow(outage, p, q)
    for i in range(2):
        vm_ref, loss_ref = run_pandapower(outage, p[i], q[i])
        assert np.abs(res.vm_pu[i] - vm_ref).max() < 1e-6
        assert res.loss_mw[i] == pytest.approx(loss_ref, abs=1e-6)
    big = multi_feeder(NET, 3)
    p, q = random_states(big, rng, 1)
    res = solve_power_flow(big, p[0], q[0])
    vm_ref, loss_ref = run_pandapower(big, p[0], q[0])
    assert np.abs(res.vm_pu - vm_ref).max() < 1e-6
    assert res.loss_mw == pytest.approx(loss_ref, abs=1e-6)


# -- theory: the solution satisfies the AC power-flow equations --------------------------------

def ybus(net: Network) -> np.ndarray:
    """Bus admittance matrix (p.u.) assembled line by line, independently of the solver."""
    y = np.zeros((net.n_bus, net.n_bus), dtype=complex)
    for li in np.flatnonzero(net.in_service):
        a, b = int(net.line_from[li]), int(net.line_to[li])
        ys = net.z_base_ohm / (net.r_ohm[li] + 1j * net.x_ohm[li])
        y[a, a] += ys
        y[b, b] += ys
        y[a, b] -= ys
        y[b, a] -= ys
    return y


def test_solution_satisfies_bus_power_balance() -> None:
    """S_i = V_i conj((Y V)_i) equals minus the net load at every non-slack bus (to 1e-8 p.u.)."""
    rng = np.random.default_rng(3)
    p, q = random_states(NET, rng, 20)
    res = solve_power_flow(NET, p, q, tol=1e-12)
    v = res.vm_pu * np.exp(1j * np.radians(res.va_degree))
    s_inj = v * np.conj(v @ ybus(NET).T)
    other = np.arange(NET.n_bus) != NET.slack_bus
    assert np.abs(s_inj[:, other] + (p + 1j * q)[:, other]).max() < 1e-8
    # the substation supplies the loads plus the line losses
    assert np.allclose(s_inj[:, NET.slack_bus].real, res.slack_p_mw, atol=1e-8)
    assert np.allclose(res.slack_p_mw, p[:, other].sum(axis=1) + res.loss_mw, atol=1e-8)


def test_tolerance_bounds_the_error() -> None:
    rng = np.random.default_rng(4)
    p, q = random_states(NET, rng, 10)
    tight = solve_power_flow(NET, p, q, tol=1e-13)
    loose = solve_power_flow(NET, p, q, tol=1e-6)
    assert np.abs(loose.vm_pu - tight.vm_pu).max() < 1e-6
    assert (loose.iterations < tight.iterations).all()


# -- batching ------------------------------------------------------------------------------------

def test_batch_rows_equal_single_solves() -> None:
    rng = np.random.default_rng(5)
    p, q = random_states(NET, rng, 40)
    batch = solve_power_flow(NET, p, q)
    for i in (0, 17, 39):                 # a batch sweeps until its slowest state converged
        one = solve_power_flow(NET, p[i], q[i])
        assert np.abs(one.vm_pu - batch.vm_pu[i]).max() < 10 * one.tol
        assert one.loss_mw == pytest.approx(batch.loss_mw[i], abs=10 * one.tol)


def test_feeders_of_a_substation_are_independent() -> None:
    """Copy f of a multi-feeder network solves exactly like the single feeder with f's loads."""
    big = build_network("ieee33", 4)
    rng = np.random.default_rng(6)
    p, q = random_states(NET, rng, 4)
    pb = np.concatenate([[0.0], p[:, 1:].ravel()])
    qb = np.concatenate([[0.0], q[:, 1:].ravel()])
    res = solve_power_flow(big, pb, qb)
    single = solve_power_flow(NET, p, q)
    assert np.abs(res.vm_pu[1:].reshape(4, 32) - single.vm_pu[:, 1:]).max() < 10 * res.tol
    assert np.allclose(res.feeder_loss_mw, single.loss_mw, atol=10 * res.tol)
    assert res.loss_mw == pytest.approx(single.loss_mw.sum(), abs=40 * res.tol)


def test_heterogeneous_feeders_solve_as_one_batch() -> None:
    """With one feeder reconfigured the feeders no longer share one sweep matrix."""
    big = build_network("ieee33", 3)
    cut = big.reconfigure(open_lines=[big.line("f1/28", "f1/29")],
                          close_lines=[big.line("f1/25", "f1/29")])
    assert len(cut.topology.groups) == 2
    rng = np.random.default_rng(8)
    p, q = random_states(cut, rng, 3)
    res = solve_power_flow(cut, p, q)
    for i in range(3):
        vm_ref, _ = run_pandapower(cut, p[i], q[i])
        assert np.abs(res.vm_pu[i] - vm_ref).max() < 1e-6


# -- non-convergence is detected and reported ----------------------------------------------------

def test_absurd_loading_raises() -> None:
    with pytest.raises(PowerFlowNotConverged, match="did not converge") as info:
        solve_power_flow(NET, 10 * NET.load_p_mw, 10 * NET.load_q_mvar)
    res = info.value.result
    assert not res.converged and np.isnan(res.vm_pu).all() and np.isnan(res.loss_mw)


def test_flagged_failure_leaves_other_states_intact() -> None:
    p = np.stack([NET.load_p_mw, 10 * NET.load_p_mw, 0.5 * NET.load_p_mw])
    q = np.stack([NET.load_q_mvar, 10 * NET.load_q_mvar, 0.5 * NET.load_q_mvar])
    res = solve_power_flow(NET, p, q, on_failure="flag")
    assert res.converged.tolist() == [True, False, True]
    assert np.isnan(res.vm_pu[1]).all() and np.isfinite(res.vm_pu[[0, 2]]).all()
    assert res.loss_mw[0] * 1000 == pytest.approx(202.68, abs=0.01)


def test_loadability_limit_is_bracketed() -> None:
    """The feeder carries ~3x its published load; its nose point under uniform load scaling is
    lambda ~= 3.622 (pandapower and the Newton fallback agree, tests/power_grid/test_v2.py; the
    sweep alone stops converging within 100 sweeps from ~3.6); four times it is beyond the nose."""
    ok = solve_power_flow(NET, 3 * NET.load_p_mw, 3 * NET.load_q_mvar)
    assert ok.converged and ok.vm_pu.min() < 0.75
    bad = solve_power_flow(NET, 4 * NET.load_p_mw, 4 * NET.load_q_mvar, on_failure="flag")
    assert not bad.converged


def test_too_few_sweeps_is_reported_not_returned() -> None:
    with pytest.raises(PowerFlowNotConverged):
        solve_power_flow(NET, NET.load_p_mw, NET.load_q_mvar, max_iter=2)


# -- input validation and topology checks ------------------------------------------------------------

def test_bad_inputs_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="p_mw must have shape"):
        solve_power_flow(NET, np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="non-finite"):
        solve_power_flow(NET, np.full(33, np.nan), np.zeros(33))
    with pytest.raises(ValueError, match="same shape"):
        solve_power_flow(NET, np.zeros((2, 33)), np.zeros((3, 33)))
    with pytest.raises(ValueError, match="on_failure"):
        solve_power_flow(NET, np.zeros(33), np.zeros(33), on_failure="ignore")
    with pytest.raises(ValueError, match="n_feeders"):
        multi_feeder(NET, 0)


def test_meshed_or_islanded_networks_are_refused() -> None:
    with pytest.raises(ValueError, match="not radial"):
        NET.reconfigure(close_lines=[NET.line("18", "33")])
    with pytest.raises(ValueError, match="not connected"):
        NET.reconfigure(open_lines=[NET.line("6", "26")])
