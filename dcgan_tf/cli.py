"""Shared plumbing of the command-line entry points (train, export, generate, ...).

- TensorFlow's C++ start-up lines ("Could not find cuda drivers", "absl::InitializeLog")
  cannot be switched off by TF_CPP_MIN_LOG_LEVEL in TF 2.21; `quiet_tensorflow_import`
  hides them while TensorFlow loads and shows them only if the import fails.
- `main_with_errors` turns a UserError into one line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
import tempfile


def quiet_tensorflow_import() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def fail(program: str, message: str, code: int = 2):
    print(f"{program}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def parse_flags_or_fail(program: str, argv):
    """Parses absl flags; a bad flag or flagfile is one line and exit 2, not a usage dump."""
    from absl import flags, logging

    logging.set_verbosity(logging.ERROR)  # TF's and tfds' INFO/WARNING lines are not for CLI users
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(program, str(e).splitlines()[0].replace("ERROR:: ", ""))
