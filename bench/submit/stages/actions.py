"""Stage ``actions``: every episode's action log (inline or in the sidecar file beside the result)
decodes, matches its sha256 digest and has one joint action per step of the episode. Whether the
log reproduces the episode is for ``rao-bench verify`` (replay), not for the validator.

A result without logs (written before logs existed) is valid with a warning: it cannot be
replayed, so it cannot be verified.
"""

from __future__ import annotations

from bench.submit.actionlog import ActionLogError, decode, episode_raw, read_sidecar
from bench.submit.common import WARNING, Run, is_int


def stage_actions(run: Run) -> None:
    missing = [i for i, ep in run.episodes() if ep.get("actions") is None]
    if missing:
        run.add(("episodes", missing[0], "actions"),
                f"{len(missing)} episode(s) have no action log (first here): valid, but they cannot "
                "be replayed, so the result cannot be verified; re-run `rao-bench evaluate`", WARNING)
    if len(missing) == sum(1 for _ in run.episodes()):
        return
    sidecar = None
    if "action_log" in run.doc:
        if run.folder is None:
            run.add(("action_log",), "the sidecar file was not checked (a document, not a file)", WARNING)
            return
        meta = run.doc.get("action_log")
        name = str(meta.get("file", "")) if isinstance(meta, dict) else ""
        side = run.folder / name if name.startswith("actions/") and ".." not in name else None
        if side is not None and not side.exists() and not side.is_symlink():
            # an absent log (kept out of git, e.g. ThreeTier's: docs/submitting.md) cannot be
            # replayed here: valid, but `rao-bench verify` needs it, so an entry that was never
            # verified with it cannot rank
            run.add(("action_log", "file"), f"the sidecar {name} is not present here: the episodes "
                    "cannot be replayed on this machine (re-run `rao-bench evaluate`, or fetch it)",
                    WARNING)
            return
        try:
            sidecar = read_sidecar(run.doc, run.folder)
        except (ActionLogError, OSError) as exc:
            run.add(("action_log", "file"), f"{exc}; expected the sidecar `rao-bench evaluate` wrote")
            return
    for i, ep in run.episodes():
        if ep.get("actions") is None or ("episodes", i, "actions") in run.schema_paths:
            continue
        try:
            steps = decode(episode_raw(ep["actions"], sidecar))
        except ActionLogError as exc:
            run.add(("episodes", i, "actions"), f"{exc}; expected the log the harness wrote")
            continue
        if is_int(ep.get("steps")) and len(steps) != ep["steps"]:
            run.add(("episodes", i, "actions"), f"the log has {len(steps)} steps; the episode has "
                                                f"{ep['steps']}")
