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


HELP_TOKENS = {"-h", "-?", "-help", "--help", "-helpshort", "--helpshort", "-helpfull",
               "--helpfull", "--help_full"}


def help_text(program: str, usage: str | None, full: bool) -> str:
    """The tool's usage and its flags (--help), or every flag absl knows (--helpfull)."""
    from absl import flags

    fv = flags.FLAGS
    text = (usage or "").strip() or f"python -m {program} [--flag=value ...]"
    if full:
        body = fv.get_help()
    else:
        body = fv.module_help("dcgan_tf.flags")
        body += ("\n\nFlags may also come from a file: --flagfile=PATH (flags given after "
                 "it override it). --helpfull lists every flag, absl's own included.")
    return f"{text}\n\n{body}\n"


def parse_flags_or_fail(program: str, argv, usage: str | None = None):
    """Parses absl flags; --help prints the tool's flags and exits 0; a bad flag or
    flagfile is one line and exit 2, not a usage dump."""
    from absl import flags, logging

    logging.set_verbosity(logging.ERROR)  # TF's and tfds' INFO/WARNING lines are not for CLI users
    asked = [t.split("=", 1)[0] for t in argv[1:] if t.split("=", 1)[0] in HELP_TOKENS]
    if asked:
        full = any("full" in t for t in asked)
        sys.stdout.write(help_text(program, usage, full))
        sys.stdout.flush()
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(program, str(e).splitlines()[0].replace("ERROR:: ", ""))


def run_command(program: str, define_flags, body, argv=None, usage: str | None = None,
                commands: tuple = ()):
    """Runs a tool's `body(flag_values)` under absl with the project's error contract.

    `define_flags()` defines the tool's flags and returns the FlagValues; `body` returns
    the lines to print. A UserError becomes one line on stderr and exit 2; a
    DivergenceError (training stopped on NaN/inf) one line and exit 1; an OSError about a
    file or folder the user named (read-only file system, permission, a file where a
    folder belongs) one line and exit 2. With `commands`, one positional word may name a
    sub-command; it reaches `body(flag_values, command)` (None when not given).
    """
    from absl import app

    from dcgan_tf.utils.errors import DivergenceError, UserError

    flag_values = define_flags()
    argv = list(argv or sys.argv)
    if usage is None:
        usage = getattr(sys.modules.get(body.__module__), "__doc__", None)
    argv = parse_flags_or_fail(program, argv, usage)

    def _main(args):
        words = list(args[1:])
        command = words.pop(0) if commands and words and words[0] in commands else None
        if words:
            hint = f" Commands: {', '.join(commands)}." if commands else ""
            fail(program, f"Unexpected arguments {words}; flags look like --name=value.{hint}")
        try:
            for line in (body(flag_values, command) if commands else body(flag_values)):
                print(line)
        except UserError as e:
            fail(program, str(e))
        except DivergenceError as e:
            fail(program, str(e), code=1)
        except OSError as e:
            if e.filename is None:
                raise
            fail(program, f"Cannot use {e.filename!r}: {e.strerror or e}.")

    app.run(_main, argv=argv, flags_parser=lambda a: a)
