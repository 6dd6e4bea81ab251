"""Files written so that nothing the user sees is ever half-written: write to a temporary
name in the same folder, then rename over the target (atomic on POSIX file systems)."""

from __future__ import annotations

import os
import shutil
import uuid

from dcgan_tf.utils.errors import UserError


def _tmp_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def append_line(path: str, line: str) -> None:
    """Appends one line with a single write, so a killed process leaves whole lines."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()


def replace_dir(tmp_dir: str, final_dir: str) -> None:
    """Moves a completed `tmp_dir` to `final_dir`, replacing an older one.

    The old folder is first renamed aside, so at any moment `final_dir` is either the old
    complete folder, absent for an instant, or the new complete folder.
    """
    old = None
    if os.path.exists(final_dir):
        old = _tmp_name(final_dir) + ".old"
        os.rename(final_dir, old)
    os.rename(tmp_dir, final_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def temp_dir_beside(path: str) -> str:
    return _tmp_name(path)


def write_outputs(files: dict[str, bytes], out: str) -> list[str]:
    """Writes all files into a temporary folder, then moves them into `out` (created if
    needed); returns the paths written. UserError when `out` cannot take them.
    A name in a subfolder ("images/seed_000001.png") writes that subfolder whole: it
    replaces the subfolder of that name in `out`, so no file of an earlier call stays in it."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out!r} exists and is not a folder.")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise UserError(f"Cannot write to {out!r}: folder {parent!r} does not exist.")
    tmp = temp_dir_beside(os.path.abspath(out))
    try:
        os.makedirs(tmp)
        for name, data in files.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, name)), exist_ok=True)
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        os.makedirs(out, exist_ok=True)
        for folder in sorted({name.split("/")[0] for name in files if "/" in name}):
            if os.path.exists(os.path.join(out, folder)) and not os.path.isdir(
                    os.path.join(out, folder)):
                raise UserError(f"Cannot write to {out!r}: {folder!r} there is a file.")
            replace_dir(os.path.join(tmp, folder), os.path.join(out, folder))
        written = []
        for name in files:
            target = os.path.join(out, name)
            if "/" not in name:
                os.replace(os.path.join(tmp, name), target)
            written.append(target)
        return written
    except OSError as e:
        raise UserError(f"Cannot write to {out!r}: {e.strerror or e}.") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_dir(path: str, flag: str) -> str:
    """Creates folder `path` (and parents) for the tool's `flag`, or raises UserError in one
    sentence: a file in the way, a read-only or virtual file system, no permission."""
    if os.path.isfile(path):
        raise UserError(f"{flag} {path!r} is a file, not a folder.")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f"Cannot create {flag} {path!r}: {e.strerror or e}.") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"Cannot write into {flag} {path!r}: permission denied.")
    return path


def ensure_parent_writable(path: str, flag: str) -> str:
    """For an output that is written beside its final name and renamed into place: the
    parent folder must exist (it is created) and be writable; `path` must not be a file."""
    if os.path.isfile(path):
        raise UserError(f"{flag} {path!r} is a file, not a folder.")
    ensure_dir(os.path.dirname(os.path.abspath(path)), flag + " (its parent folder)")
    return path
