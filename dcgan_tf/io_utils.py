"""Files written so that nothing the user sees is ever half-written: write to a temporary
name in the same folder, then rename over the target (atomic on POSIX file systems)."""

from __future__ import annotations

import os
import shutil
import uuid

import tensorflow as tf


def _tmp_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{uuid.uuid4().hex[:8]}")


def atomic_write_bytes(path: str, data: bytes) -> None:
    folder = os.path.dirname(path)
    if folder:
        tf.io.gfile.makedirs(folder)
    tmp = _tmp_name(path)
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)


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
