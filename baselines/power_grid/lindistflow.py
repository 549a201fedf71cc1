"""Per-interval centralised optimiser: a LinDistFlow LP, its decision checked with the exact flow.

Model (Baran & Wu 1989's DistFlow without the loss terms, "LinDistFlow"). On a radial feeder the
squared voltage magnitudes ``W_b = |V_b|²`` satisfy, to first order in the line flows,

    W = W_0 − 2 (R p_net + X q_net),       R_bj + j X_bj = D_bj,                             (1)

where ``p_net, q_net`` are the net bus loads (MW, Mvar = p.u. on 1 MVA) and ``D_bj`` is the
impedance of the path that buses ``b`` and ``j`` share (the DLF matrix of
``tasks/power_grid/network.py``). An inverter at bus ``i`` that absorbs ``-q_i`` or curtails ``c_i``
therefore changes ``W_b`` by ``2 X_bi q_i − 2 R_bi c_i``.

Each interval, per feeder, the controller

1. rebuilds the last interval from the agents' observations (every bus belongs to one agent's
   zone, so together they cover the feeder) and forecasts the coming interval by persistence (the
   last measured loads and available PV power);
2. solves the exact power flow of the forecast with no control; a feeder already in the tightened
   band ``[v_min + m, v_max − m]`` (``MARGIN`` m = 0.005 p.u., for forecast and model error) keeps
   q = 0 and no curtailment, which is also what the LP would return;
3. otherwise solves the LP (scipy's HiGHS; one LP for all feeders that need it)

       min  M (o + u) + λ_c Σ_i c_i + ε Σ_i |q_i|
       s.t. W_b^0 + Σ_i (2 X_bi q_i − 2 R_bi c_i) − o ≤ (v_max − m)²     every bus b
            W_b^0 + Σ_i (2 X_bi q_i − 2 R_bi c_i) + u ≥ (v_min + m)²     every bus b
            |q_i| ≤ min(√(s_max² − p_ref²), √(s_max² − p̂_i²)),  0 ≤ c_i ≤ p̂_i

   with ``W^0`` the exact flow's squared voltages at the forecast (so the linear model is exact at
   zero action), ``o, u ≥ 0`` the feeder's worst over- and undervoltage (p.u.²; one pair per
   feeder keeps the LP small), ``M = 10⁴`` per p.u.² of band violation, ``λ_c = 1`` per MW curtailed,
   ``ε = 0.01`` per Mvar (the least reactive power that does the job);
4. checks the decision with the exact power flow of the forecast; if a bus is still outside the
   band by more than half the margin, it re-anchors (1) at the decision (``W^0`` := exact − model)
   and solves again, at most ``CORRECTIONS`` times.

It does not know the outage topology (it plans on the nominal network) and sees measurement noise
and delay like any agent. scipy's HiGHS was chosen over PuLP/CBC because it is called in-process
(no model file, no subprocess): ~2 ms per LP here against tens of ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from bench.policy import PolicyInfo
from tasks.power_grid.network import Network, build_network
from tasks.power_grid.powerflow import solve_blocks
from tasks.power_grid.voltage_control import OBS_HEAD, OBS_PER_BUS, agent_layout

TASKS = ("power_grid/IEEE33-v1", "power_grid/IEEE33-v2", "power_grid/SimBenchMV-v1")
MARGIN = 0.005         # p.u. tightening of the band
M_VIOLATION = 1e4      # cost per p.u.² of band violation
LAMBDA_C = 1.0         # cost per MW curtailed
EPS_Q = 0.01           # cost per Mvar
CORRECTIONS = 2

OBS_STATUS, OBS_P_MAX, OBS_AVAIL, OBS_P = 2, 3, 4, 5


@dataclass(frozen=True, eq=False)
class FeederSensitivity:
    """Per feeder: its buses and ``∂W/∂q``, ``∂W/∂c`` of (1) for its inverters.

    ``bus`` (F, m) global bus indices (padded with n_bus); ``pv`` (F, k) inverter indices;
    ``dq``, ``dc`` (F, m, k): 2 X and −2 R columns at the inverters' buses."""

    bus: np.ndarray
    pv: np.ndarray
    dq: np.ndarray
    dc: np.ndarray
    mask: np.ndarray             # (F, m) True on real buses


def feeder_sensitivity(net: Network) -> FeederSensitivity:
    """LinDistFlow sensitivities of every feeder of ``net`` (equation (1))."""
    topo = net.topology
    F, m = topo.block_bus.shape
    fob = topo.feeder_of_bus[net.pv_bus]
    k = np.bincount(fob, minlength=F).max()
    pv = np.full((F, k), -1, dtype=np.int64)
    dq = np.zeros((F, m, k))
    dc = np.zeros((F, m, k))
    dlf = np.zeros((F, m, m), dtype=complex)
    for g in topo.groups:
        dlf[g.feeders] = g.dlf
    for f in range(F):
        mine = np.flatnonzero(fob == f)
        pv[f, :len(mine)] = mine
        pos = [int(np.flatnonzero(topo.block_bus[f] == net.pv_bus[i])[0]) for i in mine]
        dq[f, :, :len(mine)] = 2.0 * dlf[f][:, pos].imag
        dc[f, :, :len(mine)] = -2.0 * dlf[f][:, pos].real
    return FeederSensitivity(bus=topo.block_bus.copy(), pv=pv, dq=dq, dc=dc,
                             mask=topo.block_bus < net.n_bus)


def solve_dispatch_lp(sens: FeederSensitivity, feeders: np.ndarray, w0: np.ndarray,
                      q_bound: np.ndarray, c_bound: np.ndarray, v_lo: float, v_hi: float,
                      m_violation: float = M_VIOLATION, lambda_c: float = LAMBDA_C,
                      eps_q: float = EPS_Q) -> tuple[np.ndarray, np.ndarray]:
    """The LP of step 3 for the given ``feeders``: one block-diagonal LP, solved by HiGHS.

    ``w0`` (F', m) squared voltages at zero action; ``q_bound``, ``c_bound`` (F', k) bounds per
    inverter slot (0 for empty slots). Variables per feeder: ``q⁺, q⁻, c`` (k each) and the
    feeder's worst over- and under-voltage ``o, u`` (p.u.², one each: the LP minimises the worst
    violation, which keeps it small — 3k + 2 variables and 2 rows per bus). Returns ``q``, ``c``
    of shape (F', k).
    """
    nf = len(feeders)
    k = sens.pv.shape[1]
    nv = 3 * k + 2
    hi2, lo2 = v_hi ** 2, v_lo ** 2
    mask = sens.mask[feeders]                                   # (F', m)
    fr, br = np.nonzero(mask)                                   # one row pair per real bus
    nr = len(fr)
    dq = sens.dq[feeders][fr, br]                               # (nr, k)
    dc = sens.dc[feeders][fr, br]
    base = fr * nv
    cols = np.concatenate([base[:, None] + np.arange(k), base[:, None] + k + np.arange(k),
                           base[:, None] + 2 * k + np.arange(k)], axis=1)         # (nr, 3k)
    #  W0 + dq (q+ − q−) + dc c − o ≤ hi2        −W0 − dq (q+ − q−) − dc c − u ≤ −lo2
    vals_hi = np.concatenate([dq, -dq, dc], axis=1)
    rows = np.concatenate([np.repeat(np.arange(nr), 3 * k), np.arange(nr),
                           nr + np.repeat(np.arange(nr), 3 * k), nr + np.arange(nr)])
    cc = np.concatenate([cols.ravel(), base + 3 * k, cols.ravel(), base + 3 * k + 1])
    vv = np.concatenate([vals_hi.ravel(), -np.ones(nr), -vals_hi.ravel(), -np.ones(nr)])
    a_ub = sparse.csr_matrix((vv, (rows, cc)), shape=(2 * nr, nf * nv))
    w = w0[fr, br]
    b_ub = np.concatenate([hi2 - w, w - lo2])
    cost = np.zeros((nf, nv))
    cost[:, :2 * k] = eps_q
    cost[:, 2 * k:3 * k] = lambda_c
    cost[:, 3 * k:] = m_violation
    bounds = np.zeros((nf, nv, 2))
    bounds[:, :k, 1] = q_bound
    bounds[:, k:2 * k, 1] = q_bound
    bounds[:, 2 * k:3 * k, 1] = c_bound
    bounds[:, 3 * k:, 1] = np.inf
    res = linprog(cost.ravel(), A_ub=a_ub, b_ub=b_ub, bounds=bounds.reshape(-1, 2), method="highs",
                  options={"presolve": False})      # presolve costs more than it saves here
    if res.status != 0:          # the LP always has a feasible point (slacks); be defensive
        raise RuntimeError(f"LinDistFlow LP failed: {res.message}")
    x = res.x.reshape(nf, nv)
    return x[:, :k] - x[:, k:2 * k], x[:, 2 * k:3 * k]


class LinDistFlowPolicy:
    """Centralised per-interval LinDistFlow LP on a persistence forecast (see module docstring)."""

    info = PolicyInfo(name="lindistflow", version="1", paradigm="optimization",
                      description="Per-interval centralised LinDistFlow LP (HiGHS) on a "
                                  "persistence forecast, checked and re-anchored with the exact "
                                  "power flow.")
    tasks = TASKS

    def __init__(self, env: Any, margin: float = MARGIN) -> None:
        p = env.params
        self.net = build_network(str(p["network"]), int(p["n_feeders"]), float(p["slack_vm_pu"]))
        self.layout = agent_layout(self.net)
        self.agents = list(self.layout.agents)
        if list(env.possible_agents) != self.agents:
            raise ValueError("lindistflow: the env's agents do not match its network parameters")
        self.sens = feeder_sensitivity(self.net)
        self.s_max_ratio = float(p["s_max_ratio"])
        self.v_lo, self.v_hi = float(p["v_min"]) + margin, float(p["v_max"]) - margin
        self.v_check = (float(p["v_min"]) + margin / 2, float(p["v_max"]) - margin / 2)
        self.curtail = bool(p["curtailment"])
        self.width = 2 if self.curtail else 1
        self.tol = float(p["pf_tol"])

    def reset(self, seed: int) -> None:
        pass

    # -- the picture the agents' observations give --------------------------------------------
    def _picture(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        n = self.net.n_bus
        obs = np.stack([np.asarray(observations[a], dtype=np.float64) for a in self.agents])
        z = obs[:, OBS_HEAD:].reshape(len(self.agents), -1, OBS_PER_BUS)
        lp = np.zeros(n + 1)
        lq = np.zeros(n + 1)
        lp[self.layout.zone_bus] = z[:, :, 1]
        lq[self.layout.zone_bus] = z[:, :, 2]
        s_max = self.s_max_ratio * obs[:, OBS_P_MAX]
        return {"lp": lp[:n], "lq": lq[:n], "ok": obs[:, OBS_STATUS] > 0.5, "s_max": s_max,
                "avail": np.clip(obs[:, OBS_AVAIL], 0.0, s_max),
                "p_ref": np.clip(obs[:, OBS_P], 0.0, s_max)}

    def _net_load(self, pic: dict[str, np.ndarray], p_pv: np.ndarray, q_pv: np.ndarray):
        p = pic["lp"].copy()
        q = pic["lq"].copy()
        p[self.net.pv_bus] -= p_pv
        q[self.net.pv_bus] -= q_pv
        return p, q

    def _flow_w(self, pic, p_pv, q_pv) -> tuple[np.ndarray, np.ndarray]:
        """Exact flow of the forecast: voltage magnitudes on the feeder blocks (F, m; 1.0 on
        padding, 0 where the flow failed) and which feeders converged."""
        p, q = self._net_load(pic, p_pv, q_pv)
        net = self.net
        s = np.zeros(net.n_bus + 1, dtype=complex)
        s[:-1] = p + 1j * q
        s[net.slack_bus] = 0.0
        sol = solve_blocks(net.topology, s[self.sens.bus][None], net.slack_vm_pu, self.tol)
        vm = np.where(sol.converged[0][:, None], np.abs(sol.v[0]), 0.0)
        return np.where(self.sens.mask, vm, 1.0), sol.converged[0]

    def _out_of_band(self, vm_blk: np.ndarray, lo: float, hi: float,
                     feeders: np.ndarray | None = None) -> np.ndarray:
        mask = self.sens.mask if feeders is None else self.sens.mask[feeders]
        bad = ((vm_blk < lo) | (vm_blk > hi)) & mask
        return bad.any(axis=1)

    def decide(self, observations: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, dict]:
        """Reactive power (Mvar) and curtailment (MW) per inverter for the coming interval."""
        pic = self._picture(observations)
        ok = pic["ok"]
        p_hat = np.where(ok, pic["avail"], 0.0)
        n_pv = len(self.agents)
        q = np.zeros(n_pv)
        c = np.zeros(n_pv)
        vm, conv = self._flow_w(pic, p_hat, q)
        need = self._out_of_band(vm, self.v_lo, self.v_hi) | ~conv
        feeders = np.flatnonzero(need)
        if len(feeders) == 0:
            return q, c, pic
        s2 = pic["s_max"] ** 2
        head = np.sqrt(np.maximum(np.minimum(s2 - pic["p_ref"] ** 2, s2 - p_hat ** 2), 0.0))
        slots = self.sens.pv[feeders]
        valid = slots >= 0
        idx = np.where(valid, slots, 0)
        qb = np.where(valid & ok[idx], head[idx], 0.0)
        cb = np.where(valid & ok[idx] & self.curtail, p_hat[idx], 0.0)
        w0 = np.where(self.sens.mask[feeders], vm[feeders] ** 2, 1.0)
        q_f = np.zeros(qb.shape)
        c_f = np.zeros(qb.shape)
        for attempt in range(CORRECTIONS + 1):
            q_f, c_f = solve_dispatch_lp(self.sens, feeders, w0, qb, cb, self.v_lo, self.v_hi)
            q[idx[valid]] = q_f[valid]
            c[idx[valid]] = c_f[valid]
            if attempt == CORRECTIONS:
                break
            vm_new, conv_new = self._flow_w(pic, p_hat - c, q)
            still = self._out_of_band(vm_new[feeders], *self.v_check, feeders) | ~conv_new[feeders]
            if not still.any():
                break
            # re-anchor (1) at the decision: W0 := exact(decision) − model change of the decision
            model = (np.einsum("fmk,fk->fm", self.sens.dq[feeders], q_f)
                     + np.einsum("fmk,fk->fm", self.sens.dc[feeders], c_f))
            w_exact = np.where(self.sens.mask[feeders], vm_new[feeders] ** 2, 1.0)
            ok_rows = conv_new[feeders][:, None]
            w0 = np.where(ok_rows, w_exact - model, w0)
        return q, c, pic

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        q, c, pic = self.decide(observations)
        return to_actions(self.agents, q, c, pic, self.width)


def to_actions(agents: list[str], q: np.ndarray, c: np.ndarray, pic: Mapping[str, np.ndarray],
               width: int) -> dict[str, np.ndarray]:
    """Set-points (q Mvar, curtailment MW) → the task's actions (fractions; module docstring of
    ``tasks/power_grid/voltage_control.py``)."""
    s_max = pic["s_max"]
    h_ref = np.sqrt(np.maximum(s_max ** 2 - pic["p_ref"] ** 2, 0.0))
    a_q = np.where(h_ref > 1e-9, np.clip(q / np.maximum(h_ref, 1e-9), -1.0, 1.0), 0.0)
    avail = pic["avail"]
    a_c = np.where(avail > 1e-9, np.clip(c / np.maximum(avail, 1e-9), 0.0, 1.0), 0.0)
    out = {}
    for i, a in enumerate(agents):
        act = np.zeros(width, dtype=np.float32)
        act[0] = a_q[i]
        if width == 2:
            act[1] = a_c[i]
        out[a] = act
    return out
