"""Hindsight oracle: the day's optimal dispatch, planned with perfect knowledge of every interval.

ORACLE — it reads the env's true day (``env.day``: loads, available PV and inverter availability
of every interval, after the shift) and the network in service (``env.network_at``), which no
deployable controller knows. Its scores are the reference the task's anchors call "one".

Problem. With no storage the intervals are decoupled, so the day's optimum is the optimum of each
interval: per feeder and interval, choose the reactive powers ``q`` and curtailments ``c`` (MW) of
its inverters, ``u = (q, c)``, to

    min  loss(u) + λ_E Σ_i c_i + (μ/2) Σ_rows max(0, a_rᵀ u − b_r)²      over the box of u

* rows: the voltage band ``(v_min + m)² ≤ W_b ≤ (v_max − m)²`` on squared voltages, ``W`` linear
  in ``u`` with LinDistFlow's sensitivities (``lindistflow.py``, eq. 1) and anchored at the exact
  power flow of the current plan, margin ``m`` = 0.002 p.u.; and the inverter's capability disc
  ``q² + p² ≤ s_max²`` with ``p = p̃ − c``, kept on the safe side by its chord
  ``|q| ≤ h(0) + (s_max − h(0)) c / p̃`` (``h(c) = √(s_max² − (p̃ − c)²)`` is concave, so the chord
  lies inside the disc);
* box: ``0 ≤ c ≤ p̃`` (available power, capped at s_max), ``|q| ≤ √(s_max² − p̃_{t−1}²)`` (the
  headroom an action can express; ``p̃_{t−1}`` ≥ the power delivered in the last interval);
* ``loss`` = LinDistFlow's loss ``p_netᵀ R p_net + q_netᵀ R q_net`` (Baran & Wu with unit
  voltages) expanded around the plan;
* ``λ_E = 1`` per MW: line loss and curtailed PV are both lost energy, priced alike (as in the
  task's reward); the penalty ``μ = 10⁵`` per (p.u.²)² leaves residual violations of ~1e-4 p.u.²,
  inside the margin.

Solution. All ``T × F`` problems (12 variables each) are solved at once by a batched projected
Newton method (``box_newton``). Outer rounds re-anchor the linear model at the exact power flow of
the current plan (one batched flow for the whole day): a problem is settled once its plan keeps
the true band under the exact flow and moved less than ``SETTLE`` in the last round; at most
``MAX_OUTER`` rounds. So the plan is checked and corrected with the exact physics, not trusted to
the linearisation (on the eval days every interval ends in band; ``tests/power_grid``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.power_grid.lindistflow import feeder_sensitivity
from bench.policy import PolicyInfo
from tasks.power_grid.network import BASE_MVA, Network
from tasks.power_grid.powerflow import solve_blocks

# SimBenchMV-v1: the slowest reference entry (~15 s of CPU per episode with one BLAS thread)
TASKS = ("power_grid/IEEE33-v1", "power_grid/IEEE33-v2", "power_grid/SimBenchMV-v1")
MARGIN = 0.002        # p.u. tightening of the band
MU = 1e5              # penalty per (p.u.²)² of band / capability violation
LAMBDA_E = 1.0        # cost per MW curtailed (line loss costs 1 per MW too)
MAX_OUTER = 8         # exact re-anchoring rounds, at most
SETTLE = 1e-3         # MW / Mvar: a problem whose plan moved less than this (and is in band) is done
NEWTON_ITERS = 40
BISECTIONS = 20      # exact line search: halvings of [0, α_max]
EPS_ACTIVE = 1e-6     # MW / Mvar: a variable this close to a bound may be held there


def box_newton(h: np.ndarray, g: np.ndarray, a: np.ndarray, b: np.ndarray, lo: np.ndarray,
               hi: np.ndarray, mu: float, u0: np.ndarray, iters: int = NEWTON_ITERS,
               tol: float = 1e-9) -> np.ndarray:
    """Minimise ``f(u) = ½uᵀHu + gᵀu + (μ/2)‖max(0, Au − b)‖²`` over ``lo ≤ u ≤ hi``, batched.

    Shapes: ``h`` (N, n, n) positive definite, ``g`` (N, n), ``a`` (N, r, n), ``b`` (N, r),
    ``lo``/``hi``/``u0`` (N, n). Each iteration holds the variables at a bound that the gradient
    (or the Newton direction) pushes outward, takes a semismooth Newton direction ``d`` on the
    others (generalised Hessian ``H + μ Aᵀ diag(1[Au > b]) A``) and minimises ``f`` exactly along
    it within the box: ``φ(α) = f(u + αd)`` is convex and piecewise quadratic, so its minimiser on
    ``[0, α_max]`` (``α_max ≤ 1`` keeps the step in the box) is found by bisection on ``φ'``. A
    problem stops when its projected gradient is below ``tol`` or its step no longer moves it.
    Returns u (N, n).
    """
    N, n = g.shape
    u = np.clip(u0, lo, hi).copy()
    eye = np.eye(n)
    ids = np.arange(N)                        # problems in the working copies below
    H, G, A, B, L, U = h, g, a, b, lo, hi
    x = u.copy()
    for _ in range(iters):
        res = np.einsum("nri,ni->nr", A, x) - B
        on = res > 0
        hx = np.einsum("nij,nj->ni", H, x)
        grad = hx + G + mu * np.einsum("nri,nr->ni", A, np.where(on, res, 0.0))
        pgn = np.abs(x - np.clip(x - grad, L, U)).max(axis=1)
        at_lo, at_hi = x <= L + EPS_ACTIVE, x >= U - EPS_ACTIVE
        hold = (at_lo & (grad > 0)) | (at_hi & (grad < 0)) | (at_lo & at_hi)
        hess_full = H + mu * np.matmul(np.swapaxes(A * on[:, :, None], 1, 2), A)
        d = np.zeros_like(x)
        todo = np.arange(len(ids))
        for _inner in range(n):
            free = ~hold[todo]
            hs = np.where(free[:, :, None] & free[:, None, :], hess_full[todo], eye[None])
            dd = -np.linalg.solve(hs, np.where(free, grad[todo], 0.0)[..., None])[..., 0]
            d[todo] = dd
            out = free & ((at_lo[todo] & (dd < 0)) | (at_hi[todo] & (dd > 0)))
            rows = out.any(axis=1)
            if not rows.any():
                break
            hold[todo[rows]] |= out[rows]
            todo = todo[rows]
        d = np.where(hold, 0.0, d)
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(d > 0, (U - x) / d, np.where(d < 0, (L - x) / d, np.inf))
        a_max = np.clip(room.min(axis=1), 0.0, 1.0)
        # exact line search: φ'(α) = α dᵀHd + (Hx + g)ᵀd + μ Σ_r (Ad)_r max(0, res_r + α (Ad)_r)
        ad = np.einsum("nri,ni->nr", A, d)
        dhd = np.einsum("ni,ni->n", np.einsum("nij,nj->ni", H, d), d)
        gd = ((hx + G) * d).sum(axis=1)

        def dphi(alpha: np.ndarray) -> np.ndarray:
            return alpha * dhd + gd + mu * (ad * np.maximum(res + alpha[:, None] * ad, 0.0)).sum(axis=1)

        left, right = np.zeros(len(ids)), a_max.copy()
        full = dphi(right) <= 0
        for _b in range(BISECTIONS):
            mid = 0.5 * (left + right)
            neg = dphi(mid) < 0
            left = np.where(neg, mid, left)
            right = np.where(neg, right, mid)
        alpha = np.where(full, a_max, 0.5 * (left + right))
        x_new = np.clip(x + alpha[:, None] * d, L, U)
        moved = np.abs(x_new - x).max(axis=1)
        x = x_new
        keep = (pgn > tol) & (moved > 1e-13)
        u[ids] = x
        if not keep.any():
            break
        if keep.sum() < 0.75 * len(ids):            # compact the working copies
            ids, x = ids[keep], x[keep]
            H, G, A, B, L, U = h[ids], g[ids], a[ids], b[ids], lo[ids], hi[ids]
    return u


class HindsightPolicy:
    """ORACLE: per-interval optimal dispatch with the true day, corrected with the exact flow."""

    info = PolicyInfo(name="hindsight_opf", version="1", paradigm="oracle",
                      description="ORACLE: knows the day's true loads, PV and outages; per-interval "
                                  "loss- and curtailment-minimising dispatch keeping the band, "
                                  "LinDistFlow re-anchored at the exact power flow.")
    tasks = TASKS
    privileged = ("network_at", "last_output", "t")  # realised loads/PV and the solver state

    def __init__(self, env: Any) -> None:
        self.env = env
        self._plan_for = None
        self.q_plan = self.c_plan = None

    def reset(self, seed: int) -> None:
        self._plan_for = None

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        env = self.env
        if self._plan_for is not env.day:
            self.q_plan, self.c_plan = plan_day(env)
            self._plan_for = env.day
        t = env.t
        day = env.day
        row = t + 1
        p_av = np.where(day.inverter_ok[row], day.pv_mw[row], 0.0)
        p_del = np.minimum(p_av, env.s_max) - self.c_plan[t]            # planned delivered power
        # exact capability disc (the plan keeps the chord only up to the penalty's tolerance)
        # (less one part in 10⁶, for the float32 rounding of the action)
        cap = np.sqrt(np.maximum(env.s_max ** 2 - p_del ** 2, 0.0)) * (1.0 - 1e-6)
        q = np.clip(self.q_plan[t], -cap, cap)
        p_ref = env.last_output[0]
        h_ref = np.sqrt(np.maximum(env.s_max ** 2 - np.clip(p_ref, 0, env.s_max) ** 2, 0.0))
        a_q = np.where(h_ref > 1e-12, np.clip(q / np.maximum(h_ref, 1e-12), -1, 1), 0.0)
        a_c = np.where(p_av > 1e-12, np.clip(1.0 - p_del / np.maximum(p_av, 1e-12), 0, 1), 0.0)
        width = env.action_space(env.possible_agents[0]).shape[0]
        out = {}
        for i, a in enumerate(env.possible_agents):
            act = np.zeros(width, dtype=np.float32)
            act[0] = a_q[i]
            if width == 2:
                act[1] = a_c[i]
            out[a] = act
        return out


def plan_day(env: Any) -> tuple[np.ndarray, np.ndarray]:
    """Optimal (q Mvar, c MW) of every interval and inverter, shape (T, n_pv) each."""
    T = env.horizon
    q = np.zeros((T, env.n_pv))
    c = np.zeros((T, env.n_pv))
    nets: dict[int, tuple[Network, list[int]]] = {}
    for t in range(T):                   # intervals grouped by the network in service
        net = env.network_at(t)
        nets.setdefault(id(net), (net, []))[1].append(t)
    for net, ts in nets.values():
        qs, cs = _plan_network(env, net, np.array(ts))
        q[ts], c[ts] = qs, cs
    return q, c


def _plan_network(env: Any, net: Network, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plan of intervals ``ts`` on one network (see the module docstring)."""
    day = env.day
    sens = feeder_sensitivity(net)
    topo = net.topology
    F, m = sens.bus.shape
    k = sens.pv.shape[1]
    n, r = 2 * k, 2 * m + 2 * k
    nT = len(ts)
    N = nT * F
    rows = ts + 1
    s_max = env.s_max
    ok = day.inverter_ok[rows]
    p_til = np.where(ok, np.minimum(day.pv_mw[rows], s_max), 0.0)          # (nT, n_pv)
    p_prev = np.where(day.inverter_ok[rows - 1], np.minimum(day.pv_mw[rows - 1], s_max), 0.0)
    h_ref = np.sqrt(np.maximum(s_max ** 2 - p_prev ** 2, 0.0))
    h0 = np.sqrt(np.maximum(s_max ** 2 - p_til ** 2, 0.0))
    slope = np.where(p_til > 1e-9, (s_max - h0) / np.maximum(p_til, 1e-9), 0.0)

    valid = sens.pv >= 0                                                  # (F, k)
    slot = np.where(valid, sens.pv, 0)
    okf = ok[:, slot] & valid[None]                                        # (nT, F, k)
    p_slot = np.where(okf, p_til[:, slot], 0.0)
    lo = np.zeros((nT, F, n))
    hi = np.zeros((nT, F, n))
    hq = np.where(okf, h_ref[:, slot], 0.0)
    lo[..., :k], hi[..., :k] = -hq, hq
    hi[..., k:] = np.where(okf & env.curtailment, p_slot, 0.0)

    dlf = np.zeros((F, m, m), dtype=complex)
    for g in topo.groups:
        dlf[g.feeders] = g.dlf
    pos = np.zeros((F, k), dtype=np.int64)               # block position of each inverter
    for f in range(F):
        for j in np.flatnonzero(valid[f]):
            pos[f, j] = int(np.flatnonzero(sens.bus[f] == net.pv_bus[sens.pv[f, j]])[0])
    rpv = np.take_along_axis(np.take_along_axis(dlf.real, pos[:, :, None], axis=1),
                             pos[:, None, :], axis=2)                      # (F, k, k)
    hess1 = np.zeros((F, n, n))
    hess1[:, :k, :k] = 2 * rpv
    hess1[:, k:, k:] = 2 * rpv
    hess1 += 1e-9 * np.eye(n)
    hess = np.ascontiguousarray(np.broadcast_to(hess1[None], (nT, F, n, n))).reshape(N, n, n)

    a = np.zeros((nT, F, r, n))                          # rows: over (m), under (m), disc (2k)
    a[:, :, :m, :k] = sens.dq[None]
    a[:, :, :m, k:] = sens.dc[None]
    a[:, :, m:2 * m] = -a[:, :, :m]
    ii = np.arange(k)
    sl = slope[:, slot]
    a[:, :, 2 * m + ii, ii] = 1.0
    a[:, :, 2 * m + k + ii, ii] = -1.0
    a[:, :, 2 * m + ii, k + ii] = -sl
    a[:, :, 2 * m + k + ii, k + ii] = -sl
    a = a.reshape(N, r, n)
    disc_b = np.where(okf, h0[:, slot], 0.0)
    mask = sens.mask[None]
    hi2, lo2 = (env.v_max - MARGIN) ** 2, (env.v_min + MARGIN) ** 2
    lam = np.zeros((nT, F, n))
    lam[..., k:] = LAMBDA_E

    s0 = np.zeros((nT, net.n_bus + 1), dtype=complex)   # loads of every block bus (p.u.)
    s0[:, :-1] = (day.load_p_mw[rows] + 1j * day.load_q_mvar[rows]) / BASE_MVA
    s0[:, net.slack_bus] = 0.0
    s0 = s0[:, topo.block_bus]                                             # (nT, F, m)
    fcol = np.broadcast_to(np.arange(F)[:, None], (F, k))[valid]
    pcol = pos[valid]
    pidx = np.broadcast_to(pos[None], (nT, F, k))

    u = np.zeros((nT, F, n))
    u_prev = np.full((nT, F, n), np.inf)
    todo = np.ones((nT, F), dtype=bool)
    for rnd in range(MAX_OUTER + 1):
        # exact flow of the plan, whole day at once
        s = s0.copy()
        inj = (p_slot - u[..., k:]) + 1j * u[..., :k]
        s[:, fcol, pcol] -= inj[:, valid]
        sol = solve_blocks(topo, s, net.slack_vm_pu, env.pf_tol, env.pf_max_iter)
        w = np.where(sol.converged[..., None], np.abs(sol.v) ** 2, 0.0)
        vm = np.sqrt(w)
        inside = ~(((vm > env.v_max) | (vm < env.v_min)) & mask).any(axis=2)
        settled = inside & (np.abs(u - u_prev).max(axis=2) < SETTLE)
        todo &= ~settled
        if rnd == MAX_OUTER or not todo.any():
            break
        sel = np.flatnonzero(todo.ravel())
        u_prev = u.copy()
        # linear model anchored at the plan: W(u') = w + A_W (u' − u)
        ur = u.reshape(N, n)[sel]
        au = np.einsum("nri,ni->nr", a[sel], ur)
        b = np.empty((len(sel), r))
        wv, mk = w.reshape(N, m)[sel], np.broadcast_to(mask, (nT, F, m)).reshape(N, m)[sel]
        b[:, :m] = np.where(mk, hi2 - wv + au[:, :m], 1e6)
        b[:, m:2 * m] = np.where(mk, wv - lo2 + au[:, m:2 * m], 1e6)
        b[:, 2 * m:2 * m + k] = disc_b.reshape(N, k)[sel]
        b[:, 2 * m + k:] = disc_b.reshape(N, k)[sel]
        # LinDistFlow loss gradient at the plan: d/dq_i = −2 (R q_net)_i, d/dc_i = 2 (R p_net)_i
        rp = np.einsum("fij,tfj->tfi", dlf.real, s.real)
        rq = np.einsum("fij,tfj->tfi", dlf.real, s.imag)
        grad_loss = np.concatenate([-2 * np.take_along_axis(rq, pidx, axis=2),
                                    2 * np.take_along_axis(rp, pidx, axis=2)], axis=2)
        g = (grad_loss + lam).reshape(N, n)[sel] - np.einsum("nij,nj->ni", hess[sel], ur)
        new = box_newton(hess[sel], g, a[sel], b, lo.reshape(N, n)[sel], hi.reshape(N, n)[sel],
                         MU, ur)
        flat = u.reshape(N, n)
        flat[sel] = new
    q_out = np.zeros((nT, env.n_pv))
    c_out = np.zeros((nT, env.n_pv))
    q_out[:, slot[valid]] = u[..., :k][:, valid]
    c_out[:, slot[valid]] = u[..., k:][:, valid]
    return q_out, c_out
