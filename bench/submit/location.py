"""Where a submission may sit: ``<submissions>/<domain>/<Name-vN>/<entry>.json``, in its own task's
folder, a regular file reached without symlinks.

Why: the leaderboard reads every file under ``leaderboard/submissions/``; a file in another task's
folder would be ranked on a board it does not belong to, and a symlink can point anywhere on the
machine that builds the board.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SUBMISSIONS = REPO / "leaderboard" / "submissions"


def symlink_problem(path: Path, root: Path | None = None) -> str:
    """'' unless ``path`` or a folder between ``root`` and it is a symlink."""
    p = Path(path)
    if p.is_symlink():
        return "the file is a symbolic link; expected a regular file (a link can point anywhere)"
    if root is not None:
        try:
            rel = p.absolute().relative_to(Path(root).absolute())
        except ValueError:
            return ""
        cur = Path(root).absolute()
        for part in rel.parts[:-1]:
            cur = cur / part
            if cur.is_symlink():
                return f"folder {part!r} on the way to the file is a symbolic link; expected real folders"
    return ""


def inside(path: Path, root: Path) -> bool:
    """True if ``path`` (as given, not resolved) lies under ``root``."""
    try:
        Path(path).absolute().relative_to(Path(root).absolute())
        return True
    except ValueError:
        return False


def location_problem(path: Path, root: Path, task_id: Any) -> str:
    """'' if ``path`` is ``root/<domain>/<Name-vN>/<file>.json`` for the document's ``task_id``
    and resolves inside ``root``; else what is wrong and where the file belongs."""
    p, r = Path(path).absolute(), Path(root).absolute()
    try:
        rel = p.relative_to(r)
    except ValueError:
        return f"the file is not inside the submissions folder {root}; expected it there"
    try:
        p.resolve().relative_to(r.resolve())
    except (ValueError, OSError):
        return "the file resolves to a place outside the submissions folder; expected it inside"
    if not isinstance(task_id, str) or task_id.count("/") != 1:
        return ""  # the schema stage reports a malformed task id
    want = "/".join([*task_id.split("/"), p.name])
    if len(rel.parts) != 3 or "/".join(rel.parts[:2]) != task_id:
        return (f"the file sits at {rel.as_posix()!r}, but its task is {task_id!r}; expected it at "
                f"{want!r} inside the submissions folder (its own task's folder)")
    if p.suffix != ".json":
        return f"the file name {p.name!r} does not end in .json"
    return ""
