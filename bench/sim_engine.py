"""A SimPy event engine that pickles and deep-copies mid-episode, for the discrete-event tasks.

Why: vector envs (SuperSuit's ``concat_vec_envs_v1``), worker processes and ``copy.deepcopy``
need an env that pickles. Plain SimPy does not, for two reasons:

* ``simpy.Environment`` binds its event classes to the instance as methods
  (``BoundClass.bind_early``); such a method pickles by a name the instance does not have.
  :class:`SimEngine` leaves them out of its state and binds them again on load; its event-id
  counter (``itertools.count``, not picklable from Python 3.14) is stored as its next value.
* a SimPy *process* is a Python generator, which never pickles. :class:`Daily` is a recurring
  operation written as event callbacks instead, scheduling exactly the events a process of the
  form ``yield timeout(offset); while True: operation(); yield timeout(1)`` schedules, in the
  same order (an urgent start event, then one timeout per run), so event ids, hence the order of
  simultaneous events, and the simulation are unchanged.
"""

from __future__ import annotations

import itertools
from types import MethodType
from typing import Any, Callable

import simpy
from simpy.core import BoundClass
from simpy.events import URGENT


class SimEngine(simpy.Environment):
    """``simpy.Environment`` with a pickle/deepcopy protocol (see the module docstring)."""

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items()
                 if not (isinstance(v, MethodType) and isinstance(v.__func__, type))}
        state["_eid"] = int(repr(self._eid)[len("count("):-1])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._eid = itertools.count(state["_eid"])
        BoundClass.bind_early(self)


class Daily:
    """Run ``operation()`` at ``offset`` into every unit of simulated time, from time ``now``.

    Equivalent, event for event, to ``sim.process(gen())`` with ``gen`` yielding
    ``timeout(offset)`` and then, after each ``operation()``, ``timeout(1.0)``: the start is an
    urgent event (as SimPy's process ``Initialize``) and each run schedules the next timeout.
    ``operation`` must pickle (a bound method of the env does)."""

    def __init__(self, sim: simpy.Environment, offset: float, operation: Callable[[], Any]) -> None:
        self.sim = sim
        self.offset = float(offset)
        self.operation = operation
        start = simpy.Event(sim)
        start._ok = True
        start._value = None
        start.callbacks.append(self._start)
        sim.schedule(start, URGENT)

    def _start(self, _event: Any) -> None:
        self.sim.timeout(self.offset).callbacks.append(self._run)

    def _run(self, _event: Any) -> None:
        self.operation()
        self.sim.timeout(1.0).callbacks.append(self._run)
