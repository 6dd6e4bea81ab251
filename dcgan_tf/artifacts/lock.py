"""One trainer (or builder) per folder: a lock file holding the owner's pid, host and start
times, written to a temporary name and hard-linked into place (an exclusive create where
links are missing). A lock of a dead process on this host is taken over with a warning;
another host's lock is never guessed about. Used by the workdir (`trainer.lock`) and the
dataset builder (`build.lock`)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time

from dcgan_tf.utils.atomic_files import atomic_write_text, ensure_dir
from dcgan_tf.utils.errors import UserError


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process `pid` (Linux /proc), or None: a pid reused by
    another process after the trainer died has another start time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError):
        return False
    return True


class WorkdirLock:
    """One trainer per workdir: `trainer.lock` holds the pid, host and start of the process
    that trains in it. Written whole under a temporary name and hard-linked into place, so
    it appears complete or not at all and two trainers cannot both create it. A lock whose
    process is gone (same host, pid not running or running another program) is taken over
    with a one-line warning; a lock of another host is never guessed about (the message
    says which file to delete if that trainer is gone). `flag` and `user` name the folder's
    flag and the kind of process in the messages: the data builder locks its --out too."""

    def __init__(self, folder: str, path: str, warn=None, flag: str = "--workdir",
                 user: str = "trainer"):
        self.folder, self.path = folder, path
        self.flag, self.user = flag, user
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
        self.info = {"pid": os.getpid(), "host": socket.gethostname(),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                     "proc_start": _start_time(os.getpid())}
        self.created_folder = False
        self.held = False

    def holder(self) -> dict | None:
        """The lock file's contents; {} when unreadable; None when there is none."""
        try:
            with open(self.path) as f:
                info = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def _stale(self, info: dict) -> bool:
        if not isinstance(info.get("pid"), int):
            try:  # not a lock this module wrote, or one being written (no hard links)
                return time.time() - os.path.getmtime(self.path) > 10
            except OSError:
                return True
        if info.get("host") != self.info["host"]:
            return False
        pid = info["pid"]
        if pid == os.getpid():
            return False  # another run in this very process
        if not _alive(pid):
            return True
        recorded, now = info.get("proc_start"), _start_time(pid)
        return bool(recorded and now and recorded != now)  # the pid was reused

    def acquire(self) -> WorkdirLock:
        self.created_folder = not os.path.exists(self.folder)
        ensure_dir(self.folder, self.flag)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        atomic_write_text(tmp, json.dumps(self.info) + "\n")
        try:
            for _ in range(5):
                try:
                    self._create(tmp)
                    self.held = True
                    return self
                except FileExistsError:
                    pass
                info = self.holder()
                if info is None:
                    continue  # released meanwhile: try again
                ours = isinstance(info.get("pid"), int)  # a lock this module wrote
                if not self._stale(info):
                    self._cleanup_folder()
                    who = (f"pid {info['pid']} on {info.get('host')}" if ours
                           else "its lock is being written")
                    since = f", started {info['started']}" if info.get("started") else ""
                    raise UserError(
                        f"{self.flag} {self.folder!r} is in use by another {self.user} ({who}"
                        f"{since}); wait for it or stop it (if that process is gone, delete "
                        f"{self.path}).")
                what = (f"pid {info['pid']} on {info.get('host')}, no longer running"
                        if ours else "unreadable")
                self.warn(f"Warning: taking over {self.path} left by a {self.user} that did "
                          f"not release it ({what}).")
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
            raise UserError(f"Could not take the lock {self.path}; try again.")
        finally:
            os.remove(tmp)

    def _create(self, tmp: str) -> None:
        """The lock file, complete, or FileExistsError. A hard link of the written file is
        atomic; where the file system has no hard links, an exclusive create and a write
        (a reader may then, for an instant, see it empty: an unreadable lock is taken
        over only when it is older than 10 s)."""
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            raise
        except OSError:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self.info) + "\n")

    def release(self) -> None:
        """Removes the lock if it is still this process's (and a folder the lock created
        that stayed empty: a run that failed on its input leaves nothing behind)."""
        if self.held:
            self.held = False
            info = self.holder()
            if info and info.get("pid") == self.info["pid"] and \
                    info.get("host") == self.info["host"]:
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
        self._cleanup_folder()

    def _cleanup_folder(self) -> None:
        if self.created_folder and os.path.isdir(self.folder) and not os.listdir(self.folder):
            os.rmdir(self.folder)
