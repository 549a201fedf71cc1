"""Stage ``task``: the task id names a released spec, and the spec hash matches the lock."""

from __future__ import annotations

import warnings

from bench import registry
from bench.spec import SpecError
from bench.submit.common import WARNING, Run, dget, show


_LOCK_NAME = f"{registry.LOCK_PATH.parent.name}/{registry.LOCK_PATH.name}"


def stage_task(run: Run) -> None:
    tid = dget(run.doc, "task", "id")
    if not isinstance(tid, str) or ("task", "id") in run.schema_paths:
        run.spec_missing_reason = "$.task.id is missing or malformed"
        run.blocked(("task", "id"), f"{run.spec_missing_reason} (see the schema problems), so no "
                    "released spec can be looked up")
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec = registry.get_spec(tid)
    except registry.VersionNotFound as exc:
        run.spec_missing_reason = f"task {tid!r} is not a released version"
        run.add(("task", "id"), f"found {tid!r}, which is not released: {exc}")
        return
    except registry.RegistryError as exc:
        run.spec_missing_reason = f"task {tid!r} is unknown"
        run.add(("task", "id"), f"found {tid!r}: {exc}")
        return
    except (SpecError, OSError) as exc:
        run.spec_missing_reason = "the registry's released specs could not be loaded"
        run.add(("task", "id"), f"cannot check: {run.spec_missing_reason} ({exc})")
        return
    for w in caught:
        if issubclass(w.category, registry.DeprecatedTaskWarning):
            run.add(("task", "id"), str(w.message), WARNING)
    run.spec = spec

    try:
        lock = registry.read_lock()
    except (OSError, ValueError) as exc:
        lock = None
        run.add(("task", "id"), f"cannot read the spec lock {_LOCK_NAME} ({exc}); "
                                "expected a JSON object of task id -> sha256")
    locked = lock.get(tid) if isinstance(lock, dict) else None
    if isinstance(lock, dict) and locked is None:
        run.add(("task", "id"), f"task {tid!r} is not in the spec lock {_LOCK_NAME}; "
                                "expected a released task (maintainers release with `rao-bench lock`)")
    elif locked is not None and locked != spec.sha256:
        run.add(("task", "id"), f"this installation's spec file for {tid!r} hashes to {spec.sha256}, "
                                f"but the lock records {locked}; expected an unedited release")
    sha = dget(run.doc, "task", "spec_sha256")
    if isinstance(sha, str) and (sha != spec.sha256 or (locked is not None and sha != locked)):
        run.add(("task", "spec_sha256"), f"found {show(sha)}; expected the released spec's hash "
                                         f"{locked or spec.sha256} (the result was produced with a "
                                         "different spec)")

