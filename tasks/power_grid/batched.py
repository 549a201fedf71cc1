"""``power_grid/IEEE33-v1`` for learners: B independent episodes stepped at once, as arrays.

``BatchedVoltageControl(batch_size, scale, scenario, **overrides)`` runs B episodes of one scale
and scenario (B seeds) in lockstep. Its actions are one array (B, n_agents, action width) and it
returns arrays: observations (B, n_agents, obs_dim) float32, rewards (B, n_agents), and the
per-step ``infos`` as arrays (B, n_agents) per KPI counter and per constraint. Episode ``b`` is
bit-identical to ``bench.make("power_grid/IEEE33-v1", scale, scenario, **overrides)`` reset with
``seeds[b]`` and stepped with ``actions[b]`` (``tests/power_grid/test_batched.py`` compares every
observation, reward, info and state, on every scale and scenario and through power-flow failures).

Model. Exactly the one of ``voltage_control.py`` (its module docstring: inverter limits, the
exact AC power flow of every interval, per-feeder reward, KPIs and violations, shifts): each
interval's network states of all B episodes go through the backward/forward sweep of
``powerflow.py``, equation (1) ``V = V0 − D · conj(s / V)``, with each episode's own warm start.
Why it is identical and not just close: the sweep is iterated to a tolerance, so the number of
sweeps changes the last bits of the answer; ``solve_episodes`` therefore stops every episode at
exactly the sweep where a lone env would have stopped it (its own convergence and collapse
checks, ``powerflow.solve_blocks``'s rules applied per episode), and computes every matrix product
with the shapes a lone env uses (one episode's rows per product, in ``CHUNK_ROWS`` chunks: the
BLAS kernel, hence the rounding, depends on the number of rows), stacked over episodes in one
``numpy.matmul`` call. Everything else is elementwise or a per-episode reduction in the same
order (``bincount`` with one bin per episode and feeder).

Day draws (loads, sun, shifts) come from each episode's own Generator, seeded by ``reset``, as in
the env (one ``VoltageControlEnv`` per episode draws its day and solves its first interval).

Per-feeder KPI counters (``in_band``, ``feeder_steps``, ``loss_mwh``, ``pf_failures``) are
reported at the feeder's first agent (``layout.feeder_first``) and are 0 at the others, so summing
over agents gives the team series the harness aggregates; ``infos(b, ...)`` rebuilds episode b's
per-agent dicts exactly as the env reports them.

Speed: ``tests/benchmarks/test_power_grid_speed.py::test_batched_env`` (steps per second of B
episodes against B envs; docs/performance.md).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from tasks.power_grid.network import Network, Topology
from tasks.power_grid.powerflow import _CHECK_EVERY, CHUNK_ROWS, COLLAPSE_VM_PU
from tasks.power_grid.voltage_control import OBS_HEAD, VoltageControlEnv, inverter_setpoints

TASK_ID = "power_grid/IEEE33-v1"
AGENT_KPIS = ("q_mvarh", "curtailed_mwh", "pv_available_mwh")
FEEDER_KPIS = ("in_band", "feeder_steps", "loss_mwh", "pf_failures")
VIOLATIONS = ("bus_voltage", "line_current", "inverter_apparent_power")


def _stacked_times(x: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """``x @ mat`` for x of shape (E, r, m): per episode, the products a lone env makes on its r
    rows (``powerflow._rows_times``: chunks of CHUNK_ROWS rows), stacked over the E episodes."""
    r = x.shape[1]
    if r <= CHUNK_ROWS:
        return np.matmul(x, mat)
    out = np.empty(x.shape[:2] + (mat.shape[1],), dtype=np.result_type(x, mat))
    for i in range(0, r, CHUNK_ROWS):
        out[:, i:i + CHUNK_ROWS] = np.matmul(np.ascontiguousarray(x[:, i:i + CHUNK_ROWS]), mat)
    return out


def _group_times(topo: Topology, x: np.ndarray, which: str) -> np.ndarray:
    """``x`` (E, F, m) times each feeder group's ``dlf`` or ``kt``, rows grouped as a lone env
    groups them (the whole block at once when one group holds every feeder)."""
    groups = topo.groups
    if len(groups) == 1:
        return _stacked_times(x, getattr(groups[0], which))
    out = np.empty_like(x)
    for g in groups:
        out[:, g.feeders] = _stacked_times(x[:, g.feeders], getattr(g, which))
    return out


def solve_episodes(topo: Topology, s_pu: np.ndarray, v0: float, tol: float, max_iter: int,
                   v_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Equation (1) of ``powerflow.py`` for E independent network states (one per episode) of
    shape (E, F, m), each iterated exactly as ``powerflow.solve_blocks`` iterates a lone state
    (B = 1): from ``v_start`` (E, F, m) (an episode's warm start, or V0 for a flat start), sweeps
    until the largest voltage update over the episode's feeders is at most ``tol``, with its
    collapse check every ``_CHECK_EVERY`` sweeps and whenever it is about to stop. An episode that
    has stopped is not swept again (another sweep would move its last bits).

    Returns (v, j, loss_pu, converged) of shapes (E, F, m), (E, F, m), (E, F), (E, F).
    """
    E, F, m = s_pu.shape
    sc = np.conj(np.ascontiguousarray(s_pu))
    v = np.array(v_start, dtype=complex).reshape(E, F, m)
    v_prev = v.copy()
    failed = np.zeros((E, F), dtype=bool)
    err = np.full((E, F), np.inf)
    active = np.arange(E)
    collapse = COLLAPSE_VM_PU
    for sweep in range(1, int(max_iter) + 1):
        va = v[active]
        drop = _group_times(topo, sc[active] / np.conj(va), "dlf")
        vn = v0 - drop
        v_prev[active] = va
        v[active] = vn
        diff = np.abs(vn - va)
        worst = diff.reshape(len(active), -1).max(axis=1)
        check = (sweep % _CHECK_EVERY == 0) | (worst <= tol) | ~np.isfinite(worst)
        if not check.any():
            continue
        ce = active[check]
        e_err = diff[check].max(axis=2)
        bad = ~((np.abs(vn[check]).min(axis=2) >= collapse) & np.isfinite(e_err))
        for k in np.flatnonzero(bad.any(axis=1)):      # episodes with a newly failed feeder
            e = ce[k]
            failed[e] |= bad[k]
            v[e, failed[e]] = v0       # keep the arithmetic finite; these feeders stay failed
            v_prev[e, failed[e]] = v0
            e_err[k, failed[e]] = 0.0
        err[ce] = e_err
        stop = e_err.max(axis=1) <= tol
        if stop.any():
            keep = np.ones(len(active), dtype=bool)
            keep[np.flatnonzero(check)[stop]] = False
            active = active[keep]
            if not len(active):
                break
    if len(active):                    # ran out of sweeps: their last update decides
        err[active] = np.abs(v[active] - v_prev[active]).max(axis=2)
    converged = ~failed & (err <= tol)
    j = _group_times(topo, sc / np.conj(v), "kt")
    loss = np.empty((E, F))
    if len(topo.groups) == 1:
        loss[:] = ((j.real ** 2 + j.imag ** 2) * topo.groups[0].r_pu).sum(axis=2)
    else:
        for g in topo.groups:
            jg = j[:, g.feeders]
            loss[:, g.feeders] = ((jg.real ** 2 + jg.imag ** 2) * g.r_pu).sum(axis=2)
    return v, j, loss, converged


class BatchedVoltageControl:
    """B episodes of ``power_grid/IEEE33-v1`` (one scale and scenario) stepped as arrays; see the
    module docstring. ``reset(seeds)`` → observations; ``step(actions)`` → (observations,
    rewards, done, kpi, violations)."""

    metadata: dict[str, Any] = {"render_modes": [], "name": "power_grid_IEEE33_batched"}
    render_mode: str | None = None  # nothing to draw; it deep-copies and pickles like the env

    def __init__(self, batch_size: int, scale: str | None = None, scenario: str | None = None,
                 **overrides: Any) -> None:
        import bench

        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1 (episodes stepped together), "
                             f"got {batch_size!r}")
        self.batch_size = B = int(batch_size)
        self.envs: list[VoltageControlEnv] = [bench.make(TASK_ID, scale=scale, scenario=scenario,
                                                         **overrides) for _ in range(B)]
        env = self.env = self.envs[0]          # the structure every episode shares
        self.config = env.config
        self.possible_agents = list(env.possible_agents)
        self.n_agents = len(self.possible_agents)
        self.obs_dim = env.obs_dim
        self.action_width = 2 if env.curtailment else 1
        self.horizon = env.horizon
        self.layout = env.layout
        self.observation_space = env.observation_space(self.possible_agents[0])
        self.action_space = env.action_space(self.possible_agents[0])
        self.t = 0
        self.done = True
        F = env.n_feeders
        self._live_idx = (np.arange(B)[:, None] * F + env._live_feeder[None, :]).ravel()
        self._pv_idx = (np.arange(B)[:, None] * F + env._pv_feeder[None, :]).ravel()
        self._seeds: list[int] = []

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, seeds: Sequence[int]) -> np.ndarray:
        """Start B episodes, episode b from ``seeds[b]``; returns observations (B, n_agents,
        obs_dim). Each episode's day is drawn by its own env's Generator (as ``env.reset``)."""
        seeds = [int(s) for s in seeds]
        if len(seeds) != self.batch_size:
            raise ValueError(f"reset needs one seed per episode: got {len(seeds)} seeds for "
                             f"batch_size {self.batch_size}")
        for env, s in zip(self.envs, seeds):
            env.reset(seed=s)
        envs = self.envs
        self._seeds = seeds
        self._load_p = np.stack([e.day.load_p_mw for e in envs])        # (B, T+1, n_bus)
        self._load_q = np.stack([e.day.load_q_mvar for e in envs])
        self._pv = np.stack([e.day.pv_mw for e in envs])                # (B, T+1, n_pv)
        self._ok = np.stack([e.day.inverter_ok for e in envs])
        noisy = envs[0]._noise is not None
        self._noise = ({k: np.stack([e._noise[k] for e in envs]) for k in ("v", "p")}
                       if noisy else None)
        self._meas = [{k: np.stack([e._meas[0][k] for e in envs]) for k in envs[0]._meas[0]}]
        env = self.env
        topo = env.network.topology
        self._warm_net: Network | None = env.network
        self._warm_ok = np.array([e._v_last is not None for e in envs])
        self._warm_v = np.stack([e._v_last[1][0] if e._v_last is not None
                                 else np.zeros(topo.block_bus.shape, dtype=complex) for e in envs])
        self.t = 0
        self.done = False
        return self._obs()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, dict[str, np.ndarray],
                                                  dict[str, np.ndarray]]:
        """Advance every episode one interval with ``actions`` (B, n_agents, action width), each
        row as the env's per-agent action ([a_q, a_c], or [a_q] without curtailment).

        Returns observations (B, n_agents, obs_dim) float32, rewards (B, n_agents), done (all
        episodes end together, at the horizon), KPI counter increments {name: (B, n_agents)}
        and violations {constraint: (B, n_agents)}."""
        if self.done:
            raise RuntimeError("step() called on finished episodes: call reset(seeds) first")
        env = self.env
        B, N = self.batch_size, self.n_agents
        t = self.t
        row = t + 1
        aq, ac = self._actions(actions)
        ok = self._ok[:, row]
        s_max = env.s_max
        p_av, p, q, curtailed, inv_excess = inverter_setpoints(aq, ac, ok, self._pv[:, row], s_max,
                                                               self._meas[-1]["p"])
        net = env.network_at(t)
        flow = self._flow(net, row, p, q)
        p, q = flow["p"], flow["q"]
        curtailed = np.where(flow["tripped"], 0.0, curtailed)
        self._record(row, p, q, flow)

        v = flow["v"]
        e_bus = np.maximum(np.maximum(env.v_min - v, v - env.v_max), 0.0)
        e_bus[:, -1] = 0.0
        e_line = np.maximum(flow["cur"] * env.inv_rating(net) - 1.0, 0.0)
        lay = self.layout
        e_zone_v = e_bus[:, lay.zone_bus].max(axis=2)
        e_zone_i = e_line[:, lay.zone_line].max(axis=2)

        F = env.n_feeders
        BF = B * F
        eb = e_bus[:, env._live_bus]
        barrier = np.bincount(self._live_idx, weights=eb.ravel(), minlength=BF).reshape(B, F) / 0.01
        out = np.bincount(self._live_idx, weights=(eb > 0).ravel(), minlength=BF).reshape(B, F)
        feeder_bus_ok = out == 0
        in_band = feeder_bus_ok & ~flow["failed"]
        curt_f = np.bincount(self._pv_idx, weights=curtailed.ravel(), minlength=BF).reshape(B, F)
        absq_f = np.bincount(self._pv_idx, weights=np.abs(q).ravel(), minlength=BF).reshape(B, F)
        loss = flow["loss"]
        reward_f = (-barrier - env.w_band * ~feeder_bus_ok - env.w_energy * (loss + curt_f)
                    - env.w_q * absq_f - env.w_fail * flow["failed"])

        dt = env.dt_h
        kpi = {"q_mvarh": np.abs(q) * dt, "curtailed_mwh": curtailed * dt,
               "pv_available_mwh": p_av * dt}
        first = lay.feeder_first
        for name, per_feeder in (("in_band", np.where(in_band, 1.0, 0.0)),
                                 ("feeder_steps", np.ones((B, F))), ("loss_mwh", loss * dt),
                                 ("pf_failures", np.where(flow["failed"], 1.0, 0.0))):
            arr = np.zeros((B, N))
            arr[:, first] = per_feeder
            kpi[name] = arr
        violations = {"bus_voltage": e_zone_v, "line_current": e_zone_i,
                      "inverter_apparent_power": np.where(ok, inv_excess, 0.0)}
        rewards = reward_f[:, env._pv_feeder]
        self.t += 1
        self.done = self.t >= self.horizon
        return self._obs(), rewards, self.done, kpi, violations

    def infos(self, b: int, kpi: dict[str, np.ndarray],
              violations: dict[str, np.ndarray]) -> dict[str, dict[str, dict[str, float]]]:
        """Episode ``b``'s per-agent ``infos`` of a step, exactly as the env reports them."""
        out = {}
        feeder_first = set(self.layout.feeder_first.tolist())
        cols = {k: v[b].tolist() for k, v in kpi.items()}
        vcols = {k: v[b].tolist() for k, v in violations.items()}
        for i, a in enumerate(self.possible_agents):
            k = {name: cols[name][i] for name in AGENT_KPIS}
            if i in feeder_first:
                k.update({name: cols[name][i] for name in FEEDER_KPIS})
            out[a] = {"kpi": k, "violations": {name: vcols[name][i] for name in VIOLATIONS}}
        return out

    # -- physics (the env's _actions, _flow, _solve, _record, vectorised over episodes) ------------
    def _actions(self, actions: Any) -> tuple[np.ndarray, np.ndarray]:
        B, N, w = self.batch_size, self.n_agents, self.action_width
        try:
            a = np.asarray(actions, dtype=np.float64).reshape(B, N, w)
        except (ValueError, TypeError):
            raise ValueError(f"actions must be an array of shape ({B}, {N}, {w}) "
                             f"(episodes, agents, {'[a_q, a_c]' if w == 2 else '[a_q]'}), got "
                             f"{np.shape(actions)}") from None
        if not np.all(np.isfinite(a)):
            raise ValueError("actions must be finite; got non-finite actions for episodes "
                             f"{np.flatnonzero(~np.isfinite(a).all(axis=(1, 2))).tolist()[:5]}")
        aq = np.clip(a[:, :, 0], -1.0, 1.0)
        ac = np.clip(a[:, :, 1], 0.0, 1.0) if w == 2 else np.zeros((B, N))
        return aq, ac

    def _solve(self, net: Network, pl: np.ndarray, ql: np.ndarray, warm: np.ndarray,
               v_start: np.ndarray) -> tuple[np.ndarray, ...]:
        """The env's ``_solve`` for E episodes: net loads (E, n_bus); ``warm`` (E,) bool says
        which start from ``v_start`` (E, F, m) instead of flat. Returns bus voltages (E, n_bus+1),
        line currents (E, n_lines+1) kA, loss per feeder (E, F), converged per feeder (E, F) and
        the complex block voltages (E, F, m) (the next warm start)."""
        env = self.env
        topo = net.topology
        n = net.n_bus
        E = pl.shape[0]
        s = np.zeros((E, n + 1), dtype=complex)
        s.real[:, :n] = pl
        s.imag[:, :n] = ql
        s[:, net.slack_bus] = 0.0
        start = np.where(warm[:, None, None], v_start, complex(net.slack_vm_pu))
        sv, sj, loss, conv = solve_episodes(topo, s[:, topo.block_bus], net.slack_vm_pu,
                                            env.pf_tol, env.pf_max_iter, start)
        v = np.zeros((E, n + 1))
        v[:, net.slack_bus] = net.slack_vm_pu
        v[:, topo.block_bus] = np.abs(sv)
        v[:, n] = 0.0
        cur = np.zeros((E, net.n_lines + 1))
        cur[:, topo.block_line] = np.abs(sj) * net.i_base_ka
        cur[:, net.n_lines] = 0.0
        return v, cur, loss, conv, sv

    def _flow(self, net: Network, row: int, p: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
        env = self.env
        lp, lq = self._load_p[:, row], self._load_q[:, row]
        pl, ql = lp.copy(), lq.copy()
        pl[:, net.pv_bus] -= p
        ql[:, net.pv_bus] -= q
        warm = self._warm_ok & (self._warm_net is net)
        v, cur, loss, conv, sv = self._solve(net, pl, ql, warm, self._warm_v)
        self._set_warm(net, np.arange(self.batch_size), conv, sv)
        failed = ~conv
        tripped = np.zeros(p.shape, dtype=bool)
        redo = np.flatnonzero(failed.any(axis=1))
        if len(redo):
            # fallback 1: the failed feeders' inverters trip; the episode's flow is solved again
            # from a flat start (its warm start was dropped with the failure)
            tripped[redo] = failed[redo][:, env._pv_feeder]
            p, q = np.where(tripped, 0.0, p), np.where(tripped, 0.0, q)
            pl2, ql2 = lp[redo].copy(), lq[redo].copy()
            pl2[:, net.pv_bus] -= p[redo]
            ql2[:, net.pv_bus] -= q[redo]
            v2, cur2, loss2, conv2, sv2 = self._solve(net, pl2, ql2, np.zeros(len(redo), dtype=bool),
                                                      self._warm_v[redo])
            self._set_warm(net, redo, conv2, sv2)
            topo = net.topology
            for k, e in enumerate(redo.tolist()):
                for f in np.flatnonzero(~conv2[k]):     # fallback 2: the feeder's breaker opens
                    v2[k, env._feeder_bus[f]] = 0.0
                    cur2[k, topo.block_line[f][topo.block_line[f] >= 0]] = 0.0
                    loss2[k, f] = 0.0
            v[redo], cur[redo], loss[redo], conv[redo] = v2, cur2, loss2, conv2
        return {"v": v, "cur": cur, "loss": loss, "failed": failed, "dead": ~conv,
                "p": p, "q": q, "tripped": tripped}

    def _set_warm(self, net: Network, episodes: np.ndarray, conv: np.ndarray, sv: np.ndarray) -> None:
        """The env keeps an episode's solution as the next warm start iff every feeder converged."""
        if self._warm_net is not net:          # every episode solves on the same network
            self._warm_ok[:] = False
            self._warm_net = net
        ok = conv.all(axis=1)
        self._warm_ok[episodes] = ok
        self._warm_v[episodes[ok]] = sv[ok]

    def _record(self, row: int, p: np.ndarray, q: np.ndarray, flow: dict[str, np.ndarray]) -> None:
        net = self.env.network
        B, n = self.batch_size, net.n_bus
        ppv = np.zeros((B, n + 1))
        qpv = np.zeros((B, n + 1))
        ppv[:, net.pv_bus] = flow["p"]
        qpv[:, net.pv_bus] = flow["q"]
        zeros = np.zeros((B, 1))
        lp = np.concatenate([self._load_p[:, row], zeros], axis=1)
        lq = np.concatenate([self._load_q[:, row], zeros], axis=1)
        avail = np.where(self._ok[:, row], self._pv[:, row], 0.0)
        self._meas.append({"v": flow["v"], "lp": lp, "lq": lq, "ppv": ppv, "qpv": qpv,
                           "avail": avail, "p": flow["p"], "q": flow["q"], "cur": flow["cur"]})

    # -- observations and state ------------------------------------------------------------------
    def _measurement(self) -> dict[str, np.ndarray]:
        env, t = self.env, self.t
        s = env.shift
        idx = t
        if s is not None and s["kind"] == "delayed_measurements" and t >= s["onset"]:
            idx = max(t - int(s["delay"]), 0)
        m = self._meas[idx]
        if self._noise is not None and t >= s["onset"]:
            nz = self._noise
            B = self.batch_size
            zeros = np.zeros((B, 1))
            m = dict(m)
            m["v"] = m["v"] + np.concatenate([nz["v"][:, t], zeros], axis=1) * (m["v"] > 0)
            for j, key in enumerate(("lp", "lq", "ppv", "qpv")):
                m[key] = m[key] * np.concatenate([1.0 + nz["p"][:, t, :, j], zeros], axis=1)
        return m

    def _obs(self) -> np.ndarray:
        env = self.env
        tele = self._measurement()
        own = self._meas[self.t]
        lay = self.layout
        pv = env.network.pv_bus
        t = self.t
        B, N = self.batch_size, self.n_agents
        h = (t + 0.5) * env.step_minutes / 60.0
        row = min(t + 1, env.day_steps)
        out = np.empty((B, N, self.obs_dim), dtype=np.float32)
        out[:, :, 0] = math.sin(2 * math.pi * h / 24.0)
        out[:, :, 1] = math.cos(2 * math.pi * h / 24.0)
        out[:, :, 2] = self._ok[:, row]
        out[:, :, 3] = env.p_max
        out[:, :, 4] = own["avail"]
        out[:, :, 5] = own["p"]
        out[:, :, 6] = own["q"]
        v_own = own["v"][:, pv]
        if self._noise is not None and t >= env.shift["onset"]:
            v_own = v_own + self._noise["v"][:, t][:, pv] * (v_own > 0)
        out[:, :, 7] = v_own
        n = env.network.n_bus
        used = np.broadcast_to(np.append(np.ones(n), 0.0), (B, n + 1))
        stack = np.stack([tele["v"], tele["lp"], tele["lq"], tele["ppv"], tele["qpv"], used],
                         axis=2)                                   # (B, n_bus+1, 6)
        out[:, :, OBS_HEAD:] = stack[:, lay.zone_bus].reshape(B, N, -1)
        return out

    def state(self) -> np.ndarray:
        """Every episode's ``env.state()`` (the true global state of interval t−1), (B, state_dim)."""
        env = self.env
        if not self._seeds:
            return np.stack([env._state_template()] * self.batch_size)
        m = self._meas[min(self.t, len(self._meas) - 1)]
        n = env.network.n_bus
        h = (self.t + 0.5) * env.step_minutes / 60.0
        row = min(self.t + 1, env.day_steps)
        rating = env.network_at(self.t).rating_ka
        B = self.batch_size
        tail = np.broadcast_to([math.sin(2 * math.pi * h / 24.0), math.cos(2 * math.pi * h / 24.0),
                                self.t / self.horizon], (B, 3))
        return np.concatenate([
            m["v"][:, :n], m["lp"][:, :n], m["lq"][:, :n], m["ppv"][:, :n], m["qpv"][:, :n],
            m["avail"], self._ok[:, row].astype(np.float64), m["cur"][:, :-1] / rating, tail], axis=1)
