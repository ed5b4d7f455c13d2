"""Which folders and files opinionkit may write, and which it may replace.

One rule for every command that writes (``bundle``, ``request``, ``compare``, ``export
--out``, ``schema --out``): opinionkit never deletes or overwrites anything it did not
write. ``--force`` replaces an existing output folder only when it is opinionkit's own
earlier output, recognised by the inventory it left there (:data:`INVENTORY`: every file
it wrote, with its size and modification time) and nothing foreign beside it. It never
replaces, whatever the flags, the current folder, the home folder, the file-system root,
a case folder, a folder holding the case file or a record (or one above them), or a
non-empty folder it did not write. A refusal is an :class:`OutputError` (exit 4) naming
the folder, why, and what to do.

:func:`folder_guard` makes the callable that :class:`opinionkit.pdf.AtomicDir` runs
before it writes anything and again just before it swaps the new folder in;
:func:`write_inventory` is what AtomicDir writes last into the new folder.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from opinionkit.errors import OutputError, OutputExistsError

__all__ = [
    "INVENTORY",
    "INVENTORY_SCHEMA",
    "check_output_file",
    "folder_guard",
    "owned_by_opinionkit",
    "write_inventory",
]

INVENTORY = ".opinionkit-output.json"
"""The inventory opinionkit leaves in every folder it writes (names and sizes only)."""
INVENTORY_SCHEMA = "opinionkit.output/1"

_LEGACY = {
    "manifest.json": "opinionkit.manifest/1",
    "requests.json": "opinionkit.requests/1",
}
"""Folders written before the inventory existed are recognised by their own JSON."""

_HINT = "choose another --out folder (a new one), or move the files away yourself"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError):
        return path.absolute()


def _files_under(folder: Path, limit: int = 200_000) -> dict[str, os.stat_result] | None:
    """Every entry below ``folder`` (relative POSIX path -> lstat), folders excluded;
    None when it cannot be listed whole (unreadable, or too many entries)."""
    found: dict[str, os.stat_result] = {}
    try:
        for root, dirs, names in os.walk(folder, onerror=_raise):
            for name in [*names, *(d for d in dirs if (Path(root) / d).is_symlink())]:
                full = Path(root) / name
                found[full.relative_to(folder).as_posix()] = os.lstat(full)
                if len(found) > limit:
                    return None
    except OSError:
        return None
    return found


def _raise(error: OSError) -> None:
    raise error


def _inventory_files(folder: Path) -> dict[str, tuple[int, int | None]] | None:
    """What the folder's inventory (or, for older output, its manifest) says opinionkit
    wrote there: relative path -> (size, mtime_ns or None)."""
    try:
        doc = json.loads((folder / INVENTORY).read_text(encoding="utf-8"))
        if doc.get("schema") == INVENTORY_SCHEMA and isinstance(doc.get("files"), list):
            return {
                str(f["path"]): (int(f["size"]), int(f["mtime_ns"]))
                for f in doc["files"]
                if isinstance(f, dict)
            }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    for name, schema in _LEGACY.items():
        try:
            doc = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict) or doc.get("schema") != schema:
            continue
        return _legacy_files(name, doc)
    return None


def _legacy_files(name: str, doc: dict[str, Any]) -> dict[str, tuple[int, int | None]] | None:
    listed: dict[str, tuple[int, int | None]] = {name: (-1, None)}
    try:
        if name == "manifest.json":
            for o in doc.get("outputs", []):
                listed[str(o["name"])] = (int(o["size"]), None)
            for im in doc.get("imaging", []):
                for f in im.get("files", []):
                    listed[str(f["file"])] = (-1, None)
                if im.get("dicomdir"):
                    listed[f"{im['folder']}/DICOMDIR"] = (-1, None)
        else:
            for f in doc.get("files", []):
                listed[str(f)] = (-1, None)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return listed


def owned_by_opinionkit(folder: Path) -> bool:
    """Whether ``folder`` holds only what opinionkit wrote there, unchanged: every
    regular file is in its inventory with the size (and time) recorded, and nothing
    else is there (no symlink, no file the user added, edited or copied in)."""
    listed = _inventory_files(folder)
    present = _files_under(folder)
    if listed is None or present is None:
        return False
    legacy = INVENTORY not in present
    for rel, st in present.items():
        if rel == INVENTORY:
            continue
        if not stat.S_ISREG(st.st_mode) or rel not in listed:
            return False
        size, mtime = listed[rel]
        if size >= 0 and st.st_size != size:
            return False
        if not legacy and mtime is not None and st.st_mtime_ns != mtime:
            return False
    return True


def _protected(target: Path, inputs: Iterable[Path]) -> str | None:
    """Why ``target`` may never be replaced, or None."""
    real = _resolved(target)
    if real == Path(real.anchor):
        return "it is the root of the file system"
    if real == _resolved(Path.cwd()) or real in _resolved(Path.cwd()).parents:
        return "it is the current folder (or holds it)"
    home = Path(os.path.expanduser("~"))
    if str(home) not in ("~", "") and (real == _resolved(home) or real in _resolved(home).parents):
        return "it is the home folder (or holds it)"
    for given in inputs:
        source = _resolved(given)
        if real == source:
            return "it is one of the case's inputs"
        if real in source.parents:
            return "it holds the case file or its records"
    return None


def folder_guard(inputs: Iterable[Path]) -> Callable[[Path, bool], None]:
    """The check :class:`~opinionkit.pdf.AtomicDir` makes before replacing ``target``.

    ``inputs`` are what the job reads (the case file, its folder, every record file and
    folder): a folder holding any of them is never replaced. The callable raises
    :class:`OutputError`, or returns when ``target`` may be written (it does not exist)
    or replaced (``force`` is set and it is opinionkit's own output, or an empty folder)."""
    sources = list(inputs)

    def guard(target: Path, force: bool) -> None:
        if not (target.exists() or target.is_symlink()):
            return
        why = _protected(target, sources)
        if why is not None:
            raise OutputError(
                f"{target}: will not write the output here: {why}",
                hint="choose a new folder for the output with --out",
            )
        if target.is_symlink() or not target.is_dir():
            raise OutputError(
                f"{target}: already exists and is not a folder opinionkit wrote",
                hint=_HINT,
            )
        if not force:
            raise OutputExistsError(str(target))
        if _is_empty(target) or owned_by_opinionkit(target):
            return
        raise OutputError(
            f"{target}: will not replace this folder: it holds files opinionkit did not "
            "write (or that were changed since)",
            hint=_HINT,
        )

    return guard


def _is_empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def write_inventory(folder: Path, command: str) -> None:
    """Record every file now in ``folder`` (opinionkit's new output, complete) as
    opinionkit's: written last, so that a later ``--force`` recognises the folder."""
    files = []
    for root, _dirs, names in os.walk(folder):
        for name in sorted(names):
            full = Path(root) / name
            st = os.lstat(full)
            files.append(
                {
                    "path": full.relative_to(folder).as_posix(),
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                }
            )
    files.sort(key=lambda f: str(f["path"]))
    doc = {"schema": INVENTORY_SCHEMA, "command": command, "files": files}
    fd = os.open(folder / INVENTORY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(doc, indent=1) + "\n")


def check_output_file(path: Path, *, force: bool, inputs: Iterable[Path]) -> None:
    """Before writing one file (``export --out``, ``schema --out``): never over the case
    file, a record or a folder; an existing file only with ``force``."""
    for given in inputs:
        if _resolved(path) == _resolved(given):
            raise OutputError(
                f"{path}: will not write the output over the case's input",
                hint="choose another --out file",
            )
    if path.is_dir():
        raise OutputError(f"{path} is a folder", hint="give --out a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputExistsError(str(path))
