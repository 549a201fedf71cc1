"""``BatchedInterferenceEnv``: ``B`` independent episodes of ``spectrum/Interference-v1`` or ``-v2`` (one
scale, one scenario) stepped together, with array actions and array outputs, for learners that
want throughput rather than PettingZoo's per-agent dictionaries. Under v2's rules the masks are
per agent, (B, K, A), ``info["kpi"]`` adds ``safe_rate`` (B, K), and the reward is the team's (the
per-agent reward is refused: use the single env).

Every episode is exactly the episode of a separate ``InterferenceEnv`` reset with the same seed
and given the same actions, bit for bit, on the same path (``tests/spectrum/test_batched.py``):
with ``compiled`` (the default when numba is installed) every episode runs the single env's
compiled kernels (``tasks/spectrum/kernels.py``) inside one call per slot; with
``compiled=False`` the numpy arithmetic below, which is the single env's numpy path. Episode ``b`` owns
its own ``numpy.random.Generator``, seeded by ``reset(seeds)`` as the single env seeds its own
(``PCG64(seed)``), and draws from it exactly what the single env draws, in the same order. The
model — radio channel, incumbents, rewards, counters, violations, observations — is the single
env's (``tasks/spectrum/interference.py``, module docstring); this class only lays ``B`` copies of
its per-slot arithmetic side by side, with the same numpy operations per element (the same BLAS
products per episode, the same summation orders), so that nothing is re-derived here.

Episode setup (positions, shadowing, schedules) goes through a single env per episode; the
per-slot work (interference, rates, counters, fading, observations) runs on (B, K, ...) arrays.
What stays per episode is the Gaussian draw of each episode's fading innovations (one
``standard_normal`` call each, from its own Generator) and, in slots with an active incumbent,
one small einsum per episode.

Arrays (K links, M bands, A = 1 + M L actions, D observation entries; agent ``k`` is ``link_k``):

``reset(seeds)`` → ``obs`` (B, K, D) float32, ``mask`` (B, A) int8 (shared by the agents of an
episode). ``step(actions)`` with ``actions`` (B, K) integers → ``obs``, ``mask``, ``reward``
(B,) (every agent of an episode gets it), ``done`` (bool: all episodes share the horizon), and
``info``: ``{"kpi": {"rate", "mbits", "energy_j", "blocked"}: (B, K), {"jain", "rate_p5"}: (B,)
(link_0's counters), "violations": {"pu_interference", "power_budget"}: (B, K)}``.
``state()`` → (B, S) float64, each row the single env's ``state()``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from bench.env_base import restore_views, state_with_views
from bench.spec import EnvConfig
from tasks.spectrum import channel as ch
from tasks.spectrum import kernels as _kernels
from tasks.spectrum.interference import MIN_GAIN, RULES, InterferenceEnv, measurements_db


class BatchedInterferenceEnv:
    """``n_envs`` episodes of one ``InterferenceEnv`` configuration, stepped together (module
    docstring). Build it from an ``EnvConfig`` (``bench.make(...).config``) or with
    ``BatchedInterferenceEnv.make(n_envs, scale=..., scenario=..., **overrides)``."""

    metadata: dict[str, Any] = {"render_modes": [], "name": "spectrum_Interference_batched"}
    render_mode: str | None = None  # nothing to draw; it deep-copies and pickles like the env

    def __init__(self, config: EnvConfig, n_envs: int, n_threads: int = 1, compiled: bool | None = None) -> None:
        if isinstance(n_envs, bool) or not isinstance(n_envs, (int, np.integer)) or n_envs < 1:
            raise ValueError(f"n_envs must be an integer >= 1, got {n_envs!r}")
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
            raise ValueError(f"n_threads must be an integer >= 1 (1: no threads), got {n_threads!r}")
        self.config = config
        self.n_envs = B = int(n_envs)
        self.envs = [InterferenceEnv(config) for _ in range(B)]
        # compiled: every episode runs the single env's compiled kernels (tasks/spectrum/kernels.py)
        # in one call per slot; numpy: this class lays out the single env's numpy arithmetic
        self.compiled = _kernels.AVAILABLE if compiled is None else bool(compiled)
        if self.compiled and not _kernels.AVAILABLE:
            raise ValueError("compiled=True needs numba; install it or pass compiled=False")
        for env in self.envs:
            env.use_compiled(self.compiled)
        e = self.envs[0]
        if e.reward != "team":
            raise ValueError(f"BatchedInterferenceEnv gives the team reward only; this config sets "
                             f"reward={e.reward!r}. Use InterferenceEnv (bench.make) for per-agent rewards.")
        # Interference-v2's rules (interference.py, RULES): the same arithmetic per episode
        self._suspend = e.protection_rule == "suspend"
        self._proportional = e.blame == "proportional"
        self._capped = e.power_budget_rule == "mask"
        self._pu_fading = e.pu_fading
        self.possible_agents = list(e.possible_agents)
        self.n_links, self.n_bands, self.n_levels = e.n_links, e.n_bands, e.n_levels
        self.n_actions, self.obs_dim, self.horizon = e.n_actions, e.obs_dim, e.horizon
        self.observation_space, self.action_space = e.observation_space, e.action_space
        K, M, A = self.n_links, self.n_bands, self.n_actions
        F = e.channel.F
        self._F = F
        self._nd, self._nc = K * M, K * F * M
        self._n_fading = e.channel.fading.size
        # flat offsets: (b, k) row of a (B*K, ...) array; (b, k, m) in (B, K, M); (b, k, a) in (B, K, A)
        bk = np.arange(B * K).reshape(B, K)
        self._bk_m = bk * M
        self._bk_a = bk * A
        self._b_k = (np.arange(B) * K)[:, None]
        # work buffers (several MB at large B: reusing them saves page faults and cache misses)
        self._z = np.empty((B, 2 * self._n_fading))          # innovations, one row per episode
        self._prod = np.empty((B, self._n_fading), dtype=np.complex128)     # h * conj(h)
        self._pn = np.empty((B, K, F, M))                                   # neighbours' powers
        # the fading update row-blocks, one per thread (numpy releases the GIL in the Generator's
        # fills and in the ufunc loops, so the blocks run in parallel; each episode's draws stay
        # in its own Generator, so the values do not depend on the threads)
        self.n_threads = n = min(int(n_threads), B)
        cuts = [B * i // n for i in range(n + 1)]
        self._blocks = [slice(cuts[i], cuts[i + 1]) for i in range(n)]
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="spectrum-fading") if n > 1 else None
        self.t = 0
        self._ready = False

    @classmethod
    def make(cls, n_envs: int, task_id: str = "spectrum/Interference-v1", scale: str | None = None,
             scenario: str | None = None, n_threads: int = 1, compiled: bool | None = None,
             **overrides) -> "BatchedInterferenceEnv":
        """Build from the registry, like ``bench.make(task_id, scale, scenario, **overrides)``."""
        import bench

        return cls(bench.make(task_id, scale=scale, scenario=scenario, **overrides).config, n_envs,
                   n_threads=n_threads, compiled=compiled)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy without the thread pool (threads do not pickle; the copy starts its own)
        and with views (``_h_real``) kept views of their arrays (``bench.env_base``)."""
        return state_with_views({**self.__dict__, "_pool": None})

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_views(self, state)
        if len(self._blocks) > 1:
            self._pool = ThreadPoolExecutor(len(self._blocks), thread_name_prefix="spectrum-fading")

    def close(self) -> None:
        """Stop the fading threads (if any); the env cannot step afterwards."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
            self._blocks = [slice(0, self.n_envs)]

    # -- lifecycle --------------------------------------------------------------------------------
    def reset(self, seeds: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Reset every episode, episode ``b`` with ``seeds[b]`` (``None``: each continues its own
        stream, Gymnasium's convention); returns ``(obs, mask)``."""
        B = self.n_envs
        if seeds is None:
            seeds = [None] * B
        seeds = list(seeds)
        if len(seeds) != B:
            raise ValueError(f"seeds must hold one seed per episode ({B}), got {len(seeds)}")
        for env, s in zip(self.envs, seeds):
            env.reset(seed=None if s is None else int(s))
        envs = self.envs
        e0 = envs[0]
        T = self.horizon
        chans = [e.channel for e in envs]
        stack = np.stack
        self._rngs = [e.np_random for e in envs]
        # channel state of slot 0 and the episode's large-scale constants
        self._h = stack([c.fading.h for c in chans])                      # (B, N) complex
        self._h_real = self._h.view(np.float64)
        self._cross_mean = stack([c.cross_mean for c in chans])           # (B, K, K)
        self._nbr = stack([c.neighbours for c in chans]) + self._b_k[:, :, None]   # flat rows
        self._nbr_mean = stack([c._neighbour_mean3 for c in chans])       # (B, K, F, M)
        self._direct_mean = stack([c._direct_mean2 for c in chans])       # (B, K, M)
        self._ext_mean = stack([c.external_mean for c in chans])          # (B, K)
        self._direct = stack([c.direct for c in chans])
        self._cross_dev = stack([c._cross_dev for c in chans])
        self._external = stack([c.external for c in chans])
        self._primary_fade = stack([c.primary_fade for c in chans])      # (B, U+1, K) or (B, 0, K)
        self._cap = np.concatenate([e._cap_of for e in envs]) if self._capped else None   # (B*K*A,)
        # incumbents, budgets, observation constants and the scenario's schedules
        self._pu_gain = stack([e.pu_gain for e in envs])                  # (B, U+1, K)
        self._pu_band = e0.pu_band
        self._pu_active = stack([e._pu_active for e in envs])             # (B, T+1, U+1)
        self._budget_excess = np.concatenate([e._budget_excess_of for e in envs])  # (B*K*A,)
        self._fb_nbr = stack([e.feedback_nb for e in envs]) + self._b_k[:, :, None]
        self._leak = stack([e._leak_db3 for e in envs])                   # (B, K, nn, 1)
        # per episode and slot: static observation columns and action mask, as one table of the
        # distinct slot states of all episodes and an index (B, T+1) into it
        uniq: dict[int, int] = {}
        slots = []
        self._slot_idx = np.array([[uniq.setdefault(id(sl), len(uniq)) for sl in e._slots] for e in envs])
        for e in envs:
            for sl in e._slots:
                if uniq[id(sl)] == len(slots):
                    slots.append(sl)
        self._static_all = stack([sl.static for sl in slots])              # (S, K, 2M+1) float32
        self._mask_all = stack([sl.mask for sl in slots])                  # (S, A) or (S, K, A) int8
        self._available = stack([e._available for e in envs])            # (B, T+1, M)
        self._outage = (~self._available.all(axis=2)).any(axis=0).tolist()  # per slot
        self._ext_band = np.array([e.ext_band for e in envs])
        self._ext_on = e0._ext_on.tolist()                                # onset is shared
        self._ext_mw = e0.ext_mw
        self._rho = [e0._rho(t) for t in range(T + 1)]
        # running statistics and the last slot's measurements
        self._cum_rate = stack([e._cum_rate for e in envs])
        self._jain_prev = np.zeros(self.n_envs)
        self._p5_prev = np.zeros(self.n_envs)
        self._feedback = stack([e._feedback for e in envs])               # (B, K, M+1)
        self._last_power_db = stack([e.last_power_db for e in envs])
        self._si_db = stack([e._si_db for e in envs])                     # (B, K, 2M)
        if self.compiled:                    # the kernels' per-episode arguments (leading axis B)
            K, A = self.n_links, self.n_actions
            self._dmean = stack([c.direct_mean for c in chans])                   # (B, K)
            self._nmean = stack([c.neighbour_mean for c in chans])                # (B, K, F)
            self._nbr_local = stack([c.neighbours for c in chans])                # (B, K, F)
            self._fb_nbr_local = stack([e.feedback_nb for e in envs])             # (B, K, nn)
            self._leak2 = stack([e._leak_db for e in envs])                       # (B, K, nn)
            self._budget2 = self._budget_excess.reshape(B, K * A)
            self._cap2 = self._cap.reshape(B, K * A) if self._cap is not None else np.zeros((B, 0), dtype=np.int64)
            self._no_avail = np.zeros((B, 0), dtype=bool)
            self._no_ext = np.zeros((B, 0))
            self._no_fade = np.zeros((B, 0, K))     # full blame uses the unfaded gains (numpy path's rule)
        self.t = 0
        self._ready = True
        return self._obs(), self._mask()

    def step(self, actions: np.ndarray):
        """Play one slot in every episode: ``actions`` (B, K) integers in ``[0, n_actions)``.
        Returns ``(obs, mask, reward, done, info)`` (module docstring)."""
        if not self._ready:
            raise RuntimeError("step() called on finished episodes: call reset() first")
        a = np.asarray(actions)
        B, K, M = self.n_envs, self.n_links, self.n_bands
        if a.shape != (B, K) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions must be an integer array of shape (n_envs, n_links) = "
                             f"({B}, {K}), got {a.dtype} {a.shape}")
        a = np.ascontiguousarray(a, dtype=np.int64)
        if a.size and a.reshape(-1).view(np.uint64).max() >= self.n_actions:
            raise ValueError(f"actions must be integers in [0, {self.n_actions - 1}] (0 = silent, "
                             f"1 + band * {self.n_levels} + level)")
        if self.compiled:
            return self._step_compiled(a)
        t = self.t
        e0 = self.envs[0]
        blocked = None
        if self._cap is not None:
            executed = self._cap.take(self._bk_a + a)
            if (executed != a).any():
                blocked = executed != a
                a = executed
        if self._outage[t]:
            avail = self._available[:, t]                                  # (B, M)
            off = (a > 0) & ~np.take_along_axis(avail, e0._band0_of[a], axis=1)
            if off.any():
                a = np.where(off, 0, a)
                blocked = off if blocked is None else blocked | off
        b0 = e0._band0_of.take(a)
        power = e0._power_of.take(a)
        p = e0._pband_of.take(a, axis=0)                                  # (B, K, M)
        received = self._cross_mean @ p
        if self._F:
            pn = np.take(p.reshape(B * K, M), self._nbr, axis=0, out=self._pn)   # (B, K, F, M)
            received += np.einsum("bkfm,bkfm->bkm", self._cross_dev, pn)
        if self._ext_on[t]:
            received[np.arange(B), :, self._ext_band] += self._ext_mw * self._external
        own = self._bk_m + b0
        sinr = self._direct.take(own) * power / (e0.noise_mw + received.take(own))
        rate = np.log2(1.0 + sinr)                                        # (B, K)

        # incumbents (path loss and shadowing; fast fading too with pu_fading)
        pu_excess = np.zeros((B, K))
        suspended = np.zeros((B, K), dtype=bool)
        active = self._pu_active[:, t]                                    # (B, U+1)
        if active.any() and self._proportional:
            self._blame(p, active, pu_excess, suspended)
        elif active.any():
            pT = np.ascontiguousarray(p.transpose(0, 2, 1).take(self._pu_band, axis=1))
            at_pu = np.einsum("buk,buk->bu", self._pu_gain, pT)           # (B, U+1) mW
            th = e0.pu_threshold_mw
            over = active & (at_pu > th)
            if over.any():
                per_band = np.zeros((B, M))
                for b, u in zip(*np.nonzero(over)):
                    bb = self._pu_band[u]
                    per_band[b, bb] = max(per_band[b, bb], 10.0 * math.log10(float(at_pu[b, u]) / th))
                hit = over.any(axis=1)
                pu_excess[hit] = np.where(power[hit] > 0,
                                          np.take_along_axis(per_band[hit], b0[hit], axis=1), 0.0)
        budget_excess = self._budget_excess.take(self._bk_a + a)         # (B, K) dB

        if self._suspend:
            return self._finish_v2(t, a, rate, received, pu_excess, suspended, budget_excess, blocked)
        # counters and long-run statistics (the single env's arithmetic, per episode)
        self._cum_rate += rate
        avg = self._cum_rate * (1.0 / (t + 1))
        jain, p5 = _jain_rows(avg), _percentile5_rows(avg)
        d_jain, d_p5 = jain - self._jain_prev, p5 - self._p5_prev
        self._jain_prev, self._p5_prev = jain, p5
        # Python's left-to-right sums of the per-agent lists
        exceed = np.cumsum(budget_excess, axis=1)[:, -1] + np.cumsum(pu_excess, axis=1)[:, -1]
        reward = (np.cumsum(rate, axis=1)[:, -1] - e0.penalty * exceed) / K
        info = {"kpi": {"rate": rate, "mbits": rate * e0._mbit_per_rate,
                        "energy_j": e0._energy_of.take(a),
                        "blocked": blocked.astype(float) if blocked is not None else np.zeros((B, K)),
                        "jain": d_jain, "rate_p5": d_p5},
                "violations": {"pu_interference": pu_excess, "power_budget": budget_excess}}

        # measurements for the next observation
        fb = e0._onehot_of.take(a, axis=0)                                # (B, K, M+1)
        fb[:, :, M] = rate
        self._feedback = fb
        self._last_power_db = e0._rel_db_of.take(a)
        self._si_db = measurements_db(self._direct, received, e0._meas_floor, e0._meas_scale,
                                      e0._meas_offset)
        self._advance_channel(self._rho[t + 1])

        self.t = t + 1
        done = self.t >= self.horizon
        if done:
            self._ready = False
        return self._obs(), self._mask(), reward, done, info

    def _step_compiled(self, a: np.ndarray):
        """``step`` through the single env's compiled kernels, every episode in one call: each
        episode is, bit for bit, a single ``InterferenceEnv`` on its compiled path."""
        t = self.t
        B, K, M = self.n_envs, self.n_links, self.n_bands
        e0 = self.envs[0]
        a_exec = np.empty((B, K), dtype=np.int64)
        cols = np.zeros((B, 7, K))
        power = np.empty((B, K))
        suspended = np.zeros((B, K), dtype=bool)
        si = np.empty((B, K, 2 * M))
        fb = np.empty((B, K, M + 1))
        last_power_db = np.empty((B, K))
        obs = np.empty((B, K, self.obs_dim), dtype=np.float32)
        flags = np.zeros((B, 2), dtype=bool)
        stats = np.empty((B, 2))
        _kernels.play_slots(
            a, self._cap2, np.ascontiguousarray(self._available[:, t]) if self._outage[t] else self._no_avail,
            e0._band0_of, e0._power_of, self._direct, self._cross_mean, self._cross_dev, self._nbr_local,
            e0.noise_mw, self._ext_band, self._ext_mw, self._external if self._ext_on[t] else self._no_ext,
            self._pu_gain, self._pu_band, np.ascontiguousarray(self._pu_active[:, t]),
            self._primary_fade if self._proportional else self._no_fade,
            e0.pu_threshold_mw, self._proportional, e0._energy_of, self._budget2, e0._mbit_per_rate,
            self._cum_rate, t, e0._onehot_of, e0._rel_db_of, MIN_GAIN, e0._snr_scale, e0._inv_noise,
            self._static_all.take(self._slot_idx[:, t + 1], axis=0), self._fb_nbr_local, self._leak2,
            a_exec, cols, power, suspended, si, fb, last_power_db, obs, flags, stats)
        jain, p5 = stats[:, 0].copy(), stats[:, 1].copy()
        d_jain, d_p5 = jain - self._jain_prev, p5 - self._p5_prev
        self._jain_prev, self._p5_prev = jain, p5
        # the single env's left-to-right sums of its per-agent lists
        total = np.cumsum(cols, axis=2)[:, :, -1]                          # (B, 7)
        exceed = total[:, 4] + total[:, 5]                                 # (+0.0 when no incumbent is over)
        if self._suspend:
            reward = (total[:, 1] - e0.penalty * exceed) / K
            kpi = {"rate": cols[:, 0], "safe_rate": cols[:, 1]}
        else:
            reward = (total[:, 0] - e0.penalty * exceed) / K
            kpi = {"rate": cols[:, 0]}
        kpi.update(mbits=cols[:, 2], energy_j=cols[:, 3], blocked=cols[:, 6], jain=d_jain, rate_p5=d_p5)
        info = {"kpi": kpi, "violations": {"pu_interference": cols[:, 5], "power_budget": cols[:, 4]}}
        self._feedback, self._last_power_db, self._si_db = fb, last_power_db, si
        self._advance_channel(self._rho[t + 1])
        self.t = t + 1
        done = self.t >= self.horizon
        if done:
            self._ready = False
        return obs, self._mask(), reward, done, info

    def _blame(self, p: np.ndarray, active: np.ndarray, pu_excess: np.ndarray, suspended: np.ndarray) -> None:
        """``InterferenceEnv._blame`` for every episode with an active incumbent over its threshold:
        fills ``pu_excess`` and ``suspended`` (B, K) in place (the same operations per episode)."""
        e0 = self.envs[0]
        th = e0.pu_threshold_mw
        on_band = np.ascontiguousarray(p.transpose(0, 2, 1).take(self._pu_band, axis=1))  # (B, U+1, K)
        gain = self._pu_gain * self._primary_fade if self._pu_fading else self._pu_gain
        contrib = gain * on_band
        for b in np.flatnonzero(active.any(axis=1)).tolist():
            act = active[b]
            c = contrib[b, act]
            at_pu = c.sum(axis=1)
            over = at_pu > th
            if not over.any():
                continue
            excess = 10.0 * np.log10(at_pu[over] / th)
            pu_excess[b] = (excess / at_pu[over]) @ c[over]
            suspended[b] = (on_band[b, act][over] > 0).any(axis=0)

    def _finish_v2(self, t, a, rate, received, pu_excess, suspended, budget_excess, blocked):
        """The rest of ``step`` under ``protection_rule: suspend`` (``InterferenceEnv._finish_v2``'s
        arithmetic per episode, team reward)."""
        B, K, M = self.n_envs, self.n_links, self.n_bands
        e0 = self.envs[0]
        safe = np.where(suspended, 0.0, rate)
        exceed_k = budget_excess + pu_excess
        self._cum_rate += rate
        avg = self._cum_rate * (1.0 / (t + 1))
        jain, p5 = _jain_rows(avg), _percentile5_rows(avg)
        d_jain, d_p5 = jain - self._jain_prev, p5 - self._p5_prev
        self._jain_prev, self._p5_prev = jain, p5
        reward = np.array([(float(safe[b].sum()) - e0.penalty * float(exceed_k[b].sum())) / K for b in range(B)])
        info = {"kpi": {"rate": rate, "safe_rate": safe, "mbits": rate * e0._mbit_per_rate,
                        "energy_j": e0._energy_of.take(a),
                        "blocked": blocked.astype(float) if blocked is not None else np.zeros((B, K)),
                        "jain": d_jain, "rate_p5": d_p5},
                "violations": {"pu_interference": pu_excess, "power_budget": budget_excess}}
        fb = e0._onehot_of.take(a, axis=0)
        fb[:, :, M] = rate
        self._feedback = fb
        self._last_power_db = e0._rel_db_of.take(a)
        self._si_db = measurements_db(self._direct, received, e0._meas_floor, e0._meas_scale,
                                      e0._meas_offset)
        self._advance_channel(self._rho[t + 1])
        self.t = t + 1
        done = self.t >= self.horizon
        if done:
            self._ready = False
        return self._obs(), self._mask(), reward, done, info

    # -- internals ----------------------------------------------------------------------------------
    def _advance_channel(self, rho: float) -> None:
        """Every episode's fading one slot on: its own draws, then ``InterferenceChannel.advance``'s
        arithmetic, row-block by row-block (in parallel with ``n_threads`` > 1)."""
        scale = math.sqrt(max(1.0 - rho * rho, 0.0))
        if self._pool is None:
            self._advance_rows(self._blocks[0], rho, scale)
        else:
            for f in [self._pool.submit(self._advance_rows, blk, rho, scale) for blk in self._blocks]:
                f.result()

    def _advance_rows(self, rows: slice, rho: float, scale: float) -> None:
        """``_advance_channel`` for the episodes ``rows`` (elementwise per episode, so any split of
        the rows gives the same bits)."""
        if self.compiled:
            ptrs = np.stack([_kernels.generator_pointers(r) for r in self._rngs[rows]])
            _kernels.fading_steps(ptrs, self._h_real[rows], rho, scale, self._dmean[rows], self._nmean[rows],
                                  self._ext_mean[rows], self._direct[rows], self._cross_dev[rows],
                                  self._external[rows], self._primary_fade[rows])
            return
        z = self._z[rows]
        for rng, row in zip(self._rngs[rows], z):
            if _kernels.AVAILABLE and type(rng.bit_generator) is np.random.PCG64:
                _kernels.draw_normals(_kernels.generator_pointers(rng), row)   # the same stream
            else:
                rng.standard_normal(out=row)
        z *= ch._SQRT_HALF
        z *= scale
        h_real = self._h_real[rows]
        h_real *= rho
        h_real += z
        K, M, F = self.n_links, self.n_bands, self._F
        nd, nc = self._nd, self._nc
        h = self._h[rows]
        prod = np.conjugate(h, out=self._prod[rows])
        power = np.multiply(h, prod, out=prod).real                       # (b, N): |h|², as h * h.conj()
        n = len(power)
        # the slot's gains, written over the last slot's (read only within the next step)
        np.multiply(power[:, :nd].reshape(n, K, M), self._direct_mean[rows], out=self._direct[rows])
        dev = np.subtract(power[:, nd:nd + nc].reshape(n, K, F, M), 1.0, out=self._cross_dev[rows])
        dev *= self._nbr_mean[rows]
        np.multiply(power[:, nd + nc:nd + nc + K], self._ext_mean[rows], out=self._external[rows])
        if self._pu_fading:
            self._primary_fade[rows] = power[:, nd + nc + K:].reshape(n, -1, K)

    def _mask(self) -> np.ndarray:
        """(B, A) int8 action masks of slot ``t`` (a fresh array); (B, K, A) when the power budget
        is masked per agent (v2)."""
        return self._mask_all.take(self._slot_idx[:, self.t], axis=0)

    def _static(self) -> np.ndarray:
        """(B, K, 2M + 1) float32 static observation columns of slot ``t``."""
        return self._static_all.take(self._slot_idx[:, self.t], axis=0)

    def _obs(self) -> np.ndarray:
        """(B, K, D) float32 observations of slot ``t`` (a fresh array)."""
        B, K = self.n_envs, self.n_links
        fb = self._feedback
        parts = [self._si_db, fb, self._last_power_db[:, :, None], self._static()]
        if self._fb_nbr.shape[2]:
            nb = np.concatenate((fb.reshape(B * K, -1).take(self._fb_nbr, axis=0), self._leak), axis=3)
            parts.append(nb.reshape(B, K, -1))
        return np.concatenate(parts, axis=2, dtype=np.float32)

    def state(self) -> np.ndarray:
        """(B, S) float64: per episode, the single env's ``state()`` — every link's observation,
        the incumbent activity per band, the available-band mask and ``t / horizon``."""
        if not self._ready and self.t == 0:
            return np.zeros((self.n_envs, self.envs[0]._state_template().size))
        t = self.t
        B = self.n_envs
        M = self.n_bands
        band_active = self._static()[:, 0, :M].astype(np.float64)      # (B, M), the same for every link
        return np.concatenate([self._obs().astype(np.float64).reshape(B, -1), band_active,
                               self._available[:, t].astype(np.float64),
                               np.full((B, 1), t / self.horizon)], axis=1)


def _jain_rows(x: np.ndarray) -> np.ndarray:
    """``interference._jain`` of every row of ``x`` (B, K), with the same arithmetic."""
    s2 = (x[:, None, :] @ x[:, :, None])[:, 0, 0]                  # per-row dot (BLAS ddot)
    s = x.sum(axis=1)
    out = np.zeros(len(x))
    ok = s2 > 0.0
    out[ok] = s[ok] * s[ok] / (x.shape[1] * s2[ok])
    return out


def _percentile5_rows(x: np.ndarray) -> np.ndarray:
    """``interference._percentile5`` of every row of ``x`` (B, K)."""
    s = np.sort(x, axis=1)
    n = x.shape[1]
    pos = 0.05 * (n - 1)
    lo = int(pos)
    frac = pos - lo
    if lo + 1 < n:
        return s[:, lo] + frac * (s[:, lo + 1] - s[:, lo])
    return s[:, lo].copy()
