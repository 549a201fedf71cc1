"""Exact AC power flow for radial networks, batched over many network states (numpy).

Model. Balanced positive-sequence network, series line impedances, constant-power (PQ) net loads
``s_i = p_i + j q_i`` (p.u. on ``BASE_MVA``; PV injections enter as negative load), the
substation bus held at ``V0 = slack_vm_pu ∠ 0``. The load current of bus ``i`` is
``I_i = conj(s_i / V_i)``; the current of the line feeding bus ``j`` is the sum of the load currents
of the buses at or below ``j`` (Kirchhoff's current law on a tree), ``J = K I``; each bus voltage is
the substation voltage less the drops along its path, ``V = V0 − Kᵀ diag(z) J``. Together,

    V = V0 − D · conj(s / V),        D = Kᵀ diag(z) K,                                  (1)

which is the backward/forward sweep written with Teng's matrices (J.-H. Teng, "A direct approach
for distribution system load flow solutions", IEEE Trans. Power Delivery 18(3), 2003): the
backward sweep (currents up the tree) and forward sweep (drops down the tree) in one product.
Equation (1) is the full AC power flow of a radial network, not an approximation: its fixed
point satisfies every bus's complex power balance exactly (``tests/power_grid/test_powerflow.py``
checks the residual against an independently assembled bus admittance matrix and against
pandapower's Newton-Raphson).

Iteration and tolerance. From a flat start ``V = V0`` we iterate (1) until the largest change of
any bus voltage in one sweep is at most ``tol`` (default 1e-9 p.u.). The sweep is a contraction
near the operable (high-voltage) solution, so each feeder converges linearly (9 sweeps for the
published base case); a batch sweeps until every state has converged. Line loss is ``Σ r |J|²``;
line currents are ``|J|·I_base``.

Non-convergence is detected, never returned silently: a state is *not converged* when it has not
met ``tol`` after ``max_iter`` sweeps, when any voltage falls below ``COLLAPSE_VM_PU`` (past the
nose of the PV curve, where (1) has no operable solution and the sweep runs away), or when any
value is not finite. ``solve_power_flow`` then raises :class:`PowerFlowNotConverged` (default) or,
with ``on_failure="flag"``, returns the result with ``converged`` False and NaN voltages, losses
and currents for the failed states.

Shunt admittances (``Network.shunt_pu``: line charging, a transformer's magnetising branch;
absent on the IEEE 33-bus feeder, whose solution path is then unchanged) are constant-impedance
loads: bus ``i`` draws ``I_i = conj(s_i / V_i) + y_i V_i``, so (1) becomes

    V = V0 − D · (conj(s / V) + y ∘ V),                                                 (1')

still exact; a transformer is two series branches (its leakage impedance split at the star
point of its T model) with the magnetising admittance at the star point. Line loss then also
counts the shunts' conductance, ``Σ Re(y) |V|²`` (transformer iron loss).
``tests/power_grid/test_simbench_mv.py`` checks (1') against pandapower on a SimBench feeder.

Batching. Feeders hanging off the substation are independent given its voltage, so a network of
``F`` feeders and a batch of ``B`` states is one array of ``B·F`` independent radial problems;
feeders with identical structure share one ``D`` (one matrix product per sweep for all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np

from tasks.power_grid.network import BASE_MVA, Network, Topology

DEFAULT_TOL = 1e-9            # p.u.: largest voltage change in the last sweep
DEFAULT_MAX_ITER = 100
COLLAPSE_VM_PU = 0.3          # below this the sweep has left the operable solution branch


class PowerFlowNotConverged(RuntimeError):
    """The power flow of at least one network state did not converge; ``result`` holds the
    flagged result (``converged`` says which states failed; their values are NaN)."""

    def __init__(self, message: str, result: "PowerFlowResult") -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, eq=False)
class BlockSolution:
    """Raw solution on the feeder-block layout (see ``Topology``): shapes (B, F, m) / (B, F)."""

    v: np.ndarray                # complex bus voltages, p.u.
    j: np.ndarray                # complex current of the line feeding each block bus, p.u.
    loss_pu: np.ndarray          # (B, F) line loss per feeder, p.u. (= MW)
    converged: np.ndarray        # (B, F) bool
    iterations: np.ndarray       # (B, F) sweeps used


#: Rows per matrix product. Small products keep OpenBLAS on one thread: on a busy two-core
#: machine its thread pool turned a 64 x 32 complex product from ~15 us into ~1 ms on average.
CHUNK_ROWS = 32
_CHECK_EVERY = 4              # sweeps between voltage-collapse checks


def _rows_times(x: np.ndarray, mat: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:] = x @ mat`` for a 2-D ``x``, in chunks of CHUNK_ROWS rows."""
    n = x.shape[0]
    if n <= CHUNK_ROWS:
        return np.matmul(x, mat, out=out)
    for i in range(0, n, CHUNK_ROWS):
        np.matmul(x[i:i + CHUNK_ROWS], mat, out=out[i:i + CHUNK_ROWS])
    return out


NEWTON_MAX_ITER = 50         # Newton steps of the fallback (quadratic convergence: ~6 suffice)


def newton_feeder(dlf: np.ndarray, sc: np.ndarray, v0: float, tol: float,
                  max_iter: int = NEWTON_MAX_ITER,
                  shunt: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Newton-Raphson on equation (1) for one feeder, from a flat start: the fallback for states
    where the sweep (a fixed-point iteration, slow near the nose of the PV curve) stalls or runs
    away. ``dlf``: the feeder's (m, m) matrix D as used by the sweep (``drop = cur @ dlf``); ``sc``:
    conj of the net loads (m,). Why Newton: it converges quadratically up to the nose, so it solves
    every state that has an operable solution, like pandapower's Newton-Raphson.

    ``F(V) = V − V0 + (sc / conj V) @ D`` depends on conj V, so the Jacobian is taken in real form:
    with ``A[i, k] = −D[k, i] sc_k / conj(V_k)²`` (the derivative by conj V_k),
    ``dF = dV + A conj(dV)``, i.e. ``[[I + Re A, Im A], [Im A, I − Re A]] [dx; dy] = −[Re F; Im F]``.
    With shunts ``y`` (equation (1')), ``F`` gains ``(y V) @ D``, holomorphic in V: with
    ``P = I + (D ∘ y[:, None])ᵀ``, ``dF = P dV + A conj(dV)`` and the real form is
    ``[[Re(P + A), −Im(P − A)], [Im(P + A), Re(P − A)]]``.
    Returns (V, converged): converged when the largest voltage update is at most ``tol``."""
    m = len(sc)
    v = np.full(m, complex(v0))
    eye = np.eye(m)
    py = None if shunt is None else eye + (dlf * shunt[:, None]).T
    for _ in range(int(max_iter)):
        cv = np.conj(v)
        a = (dlf * (-sc / (cv * cv))[:, None]).T
        if py is None:
            f = v - v0 + (sc / cv) @ dlf
            jac = np.block([[eye + a.real, a.imag], [a.imag, eye - a.real]])
        else:
            f = v - v0 + (sc / cv + shunt * v) @ dlf
            jac = np.block([[(py + a).real, -(py - a).imag], [(py + a).imag, (py - a).real]])
        try:
            dx = np.linalg.solve(jac, -np.concatenate([f.real, f.imag]))
        except np.linalg.LinAlgError:
            return v, False
        dv = dx[:m] + 1j * dx[m:]
        v = v + dv
        step = float(np.abs(dv).max())
        if not math.isfinite(step):
            return v, False
        if step <= tol:
            return v, bool(np.all(np.abs(v) > 0))
    return v, False


def solve_blocks(topo: Topology, s_pu: np.ndarray, v0: float, tol: float = DEFAULT_TOL,
                 max_iter: int = DEFAULT_MAX_ITER, v_start: np.ndarray | None = None,
                 newton_fallback: bool = False) -> BlockSolution:
    """Solve equation (1) for net loads ``s_pu`` of shape (B, F, m) (complex p.u., zero on
    padding) on the feeder blocks of ``topo``. The low-level entry point (no validation).
    ``v_start`` (B, F, m), e.g. the previous interval's solution, replaces the flat start.

    All states sweep together until the largest voltage update of every state that has not
    failed is at most ``tol`` (a state that converged earlier only gets closer to its fixed
    point); collapse is checked every ``_CHECK_EVERY`` sweeps and at the end. With
    ``newton_fallback`` every state the sweep did not converge is solved again by
    :func:`newton_feeder`; a state is then *not converged* only if Newton fails too (beyond the
    nose: no operable solution).
    """
    B, F, m = s_pu.shape
    R = B * F
    sc = np.conj(np.ascontiguousarray(s_pu).reshape(R, m))
    groups = topo.groups
    if len(groups) == 1:
        rows = [(None, groups[0])]
    else:                            # rows of each group in the (B*F, m) layout
        base = np.arange(B)[:, None] * F
        rows = [((base + g.feeders[None, :]).ravel(), g) for g in groups]
    if v_start is None:
        v = np.full((R, m), complex(v0))
    else:
        v = np.array(v_start, dtype=complex).reshape(R, m)
    ysh = topo.shunt_block
    if ysh is not None:
        ysh = np.broadcast_to(ysh[None], (B, F, m)).reshape(R, m)
    failed = np.zeros(R, dtype=bool)
    drop = np.empty_like(v)
    collapse = COLLAPSE_VM_PU
    err = np.full(R, np.inf)
    sweeps = 0
    v_prev = v
    for sweep in range(1, int(max_iter) + 1):
        cur = sc / np.conj(v)
        if ysh is not None:
            cur += ysh * v
        for idx, g in rows:
            if idx is None:
                _rows_times(cur, g.dlf, drop)
            else:
                drop[idx] = _rows_times(cur[idx], g.dlf, np.empty((len(idx), m), dtype=complex))
        v_prev, v = v, v0 - drop
        sweeps = sweep
        worst = float(np.abs(v - v_prev).max())
        if sweep % _CHECK_EVERY == 0 or worst <= tol or not math.isfinite(worst):
            err = np.abs(v - v_prev).max(axis=1)
            bad = ~((np.abs(v).min(axis=1) >= collapse) & np.isfinite(err))
            if bad.any():
                failed |= bad
                v[failed] = v0       # keep the arithmetic finite; these states stay failed
                v_prev[failed] = v0
                err[failed] = 0.0
            if err.max() <= tol:
                break
    else:
        err = np.abs(v - v_prev).max(axis=1)
    converged = ~failed & (err <= tol)
    if newton_fallback and not converged.all():
        group_of_row = np.empty(R, dtype=np.int64)
        for k, (idx, g) in enumerate(rows):
            group_of_row[slice(None) if idx is None else idx] = k
        for r in np.flatnonzero(~converged).tolist():
            vr, ok = newton_feeder(rows[group_of_row[r]][1].dlf, sc[r], v0, tol,
                                   shunt=None if ysh is None else ysh[r])
            v[r] = vr if ok else v0
            converged[r] = ok
    cur = sc / np.conj(v)
    if ysh is not None:
        cur += ysh * v
    j = np.empty_like(v)
    for idx, g in rows:
        if idx is None:
            _rows_times(cur, g.kt, j)
        else:
            j[idx] = _rows_times(cur[idx], g.kt, np.empty((len(idx), m), dtype=complex))
    loss = np.zeros(R)
    for idx, g in rows:
        sel = slice(None) if idx is None else idx
        loss[sel] = ((j[sel].real ** 2 + j[sel].imag ** 2) * g.r_pu).sum(axis=1)
    if ysh is not None and np.any(ysh.real != 0):        # shunt conductance (iron loss)
        loss += (ysh.real * (v.real ** 2 + v.imag ** 2)).sum(axis=1)
    return BlockSolution(v=v.reshape(B, F, m), j=j.reshape(B, F, m), loss_pu=loss.reshape(B, F),
                         converged=converged.reshape(B, F),
                         iterations=np.full((B, F), sweeps, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class PowerFlowResult:
    """Power flow solution of one network state (1-D arrays) or a batch (leading axis B).

    Unpacks as ``vm_pu, loss_mw = solve_power_flow(...)``. Failed states (``converged`` False)
    hold NaN in every numeric field.
    """

    vm_pu: np.ndarray            # (B, n_bus) bus voltage magnitudes, p.u.
    va_degree: np.ndarray        # (B, n_bus) bus voltage angles, degrees
    loss_mw: np.ndarray          # (B,) total line loss, MW
    feeder_loss_mw: np.ndarray   # (B, F) line loss per feeder, MW
    line_current_ka: np.ndarray  # (B, n_lines) line current magnitude, kA (0 if switched out)
    slack_p_mw: np.ndarray       # (B,) active power delivered by the substation, MW
    slack_q_mvar: np.ndarray     # (B,) reactive power delivered by the substation, Mvar
    converged: np.ndarray        # (B,) bool: every feeder of the state converged
    feeder_converged: np.ndarray  # (B, F) bool
    iterations: np.ndarray       # (B,) sweeps used (largest over the state's feeders)
    tol: float

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.vm_pu
        yield self.loss_mw


def _as_batch(name: str, x: object, n_bus: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim not in (1, 2) or a.shape[-1] != n_bus:
        raise ValueError(f"{name} must have shape (n_bus,) or (batch, n_bus) with n_bus={n_bus}, "
                         f"got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values; pass finite MW / Mvar")
    return a.reshape(-1, n_bus)


def solve_power_flow(network: Network, p_mw: np.ndarray, q_mvar: np.ndarray, *,
                     tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER,
                     on_failure: Literal["raise", "flag"] = "raise",
                     newton_fallback: bool = False) -> PowerFlowResult:
    """Exact AC power flow of ``network`` for net bus loads ``p_mw + j q_mvar``.

    ``p_mw``, ``q_mvar``: net load per bus (consumption positive, generation negative), shape
    (n_bus,) or (batch, n_bus); the entry of the substation bus is served directly by the grid and
    changes no voltage. Returns a :class:`PowerFlowResult` whose arrays are 1-D (or scalars) for
    1-D input. Raises :class:`PowerFlowNotConverged` if any state fails to converge (see the module
    docstring) unless ``on_failure="flag"``. ``newton_fallback``: solve the states the sweep
    does not converge by Newton-Raphson (``newton_feeder``), so that only states beyond the nose
    of the PV curve fail.
    """
    if not (tol > 0):
        raise ValueError(f"tol must be a positive voltage change in p.u., got {tol!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter!r}")
    if on_failure not in ("raise", "flag"):
        raise ValueError(f"on_failure must be 'raise' or 'flag', got {on_failure!r}")
    single = np.ndim(p_mw) == 1
    n = network.n_bus
    p = _as_batch("p_mw", p_mw, n)
    q = _as_batch("q_mvar", q_mvar, n)
    if p.shape != q.shape:
        raise ValueError(f"p_mw and q_mvar must have the same shape, got {p.shape} and {q.shape}")
    topo = network.topology
    B = p.shape[0]
    s_ext = np.zeros((B, n + 1), dtype=complex)
    s_ext[:, :n] = (p + 1j * q) / BASE_MVA
    s_ext[:, network.slack_bus] = 0.0
    sol = solve_blocks(topo, s_ext[:, topo.block_bus], network.slack_vm_pu, tol, int(max_iter),
                       newton_fallback=newton_fallback)

    v0 = complex(network.slack_vm_pu)
    v = np.empty((B, n + 1), dtype=complex)
    v[:, network.slack_bus] = v0
    v[:, topo.block_bus] = sol.v
    v = v[:, :n]
    lines = np.zeros((B, network.n_lines + 1))
    lines[:, topo.block_line] = np.abs(sol.j) * network.i_base_ka
    line_current = lines[:, :-1]
    feeder_loss = sol.loss_pu * BASE_MVA
    # substation power: all load currents return through it (the slack's own load excluded)
    i_tot = (np.conj(s_ext[:, :n] / np.where(v == 0, 1, v))).sum(axis=1)
    if network.shunt_pu is not None:                     # shunt currents (the slack's own excluded)
        y = network.shunt_pu.copy()
        y[network.slack_bus] = 0.0
        i_tot = i_tot + (y[None, :] * v).sum(axis=1)
    s_slack = v0 * np.conj(i_tot) * BASE_MVA
    conv = sol.converged.all(axis=1)
    vm = np.abs(v)
    va = np.degrees(np.angle(v))
    loss = feeder_loss.sum(axis=1)
    sp, sq = s_slack.real.copy(), s_slack.imag.copy()
    if not conv.all():
        bad = ~conv
        for arr in (vm, va, line_current, feeder_loss, loss, sp, sq):
            arr[bad] = np.nan
    result = PowerFlowResult(
        vm_pu=vm[0] if single else vm, va_degree=va[0] if single else va,
        loss_mw=loss[0] if single else loss,
        feeder_loss_mw=feeder_loss[0] if single else feeder_loss,
        line_current_ka=line_current[0] if single else line_current,
        slack_p_mw=sp[0] if single else sp, slack_q_mvar=sq[0] if single else sq,
        converged=conv[0] if single else conv,
        feeder_converged=sol.converged[0] if single else sol.converged,
        iterations=sol.iterations.max(axis=1)[0] if single else sol.iterations.max(axis=1),
        tol=float(tol))
    if on_failure == "raise" and not conv.all():
        rows = np.flatnonzero(~conv)
        raise PowerFlowNotConverged(
            f"power flow of {network.name} did not converge for {len(rows)} of {B} states "
            f"(first: {rows[:5].tolist()}) within {max_iter} sweeps to tol={tol:g} p.u.: the load "
            "is beyond the feeder's loadability (voltage collapse) or max_iter is too small. "
            "Pass on_failure='flag' to get the other states' results.", result)
    return result
