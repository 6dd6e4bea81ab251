"""Shared plumbing of the command-line entry points (train, export, generate, ...).

- TensorFlow's C++ start-up lines ("Could not find cuda drivers", "absl::InitializeLog")
  cannot be switched off by TF_CPP_MIN_LOG_LEVEL in TF 2.21; `quiet_tensorflow_import`
  hides them while TensorFlow loads and shows them only if the import fails.
  `run_command` imports it only after the flags parsed, so `--help` and flag errors
  answer without loading TensorFlow (seconds on a small machine).
- `run_command` turns a UserError into one line on stderr and exit code 2.
- Flags come from dataclasses (`define_from_dataclass`: one flag per field, the help from
  the field's metadata) or from a tool's own list (`ToolFlags`). Path flags (`PATH_FLAGS`,
  by name, in every tool) expand `~` and $VARS when parsed.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import sys
import tempfile
import types
import typing

from absl import flags

from dcgan_tf.utils.errors import DivergenceError, UserError


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


def program_name(program: str, argv) -> str:
    """The name errors start with: `dcgan-tf train` when the tool runs as a subcommand of
    the dispatcher (it passes that as argv[0]), else the module's name."""
    return argv[0] if argv and str(argv[0]).startswith("dcgan-tf ") else program


def _quiet_broken_pipe() -> None:
    """`dcgan-tf ... | head` closed our stdout: stop quietly, as Unix tools do (the
    interpreter's final flush would otherwise print a second traceback)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a tool killed by the pipe


HELP_TOKENS = {"-h", "-?", "-help", "--help", "-helpshort", "--helpshort", "-helpfull",
               "--helpfull", "--help_full"}


def help_text(program: str, usage: str | None, full: bool) -> str:
    """The tool's usage and its flags (--help), or every flag absl knows (--helpfull)."""
    text = (usage or "").strip() or f"python -m {program} [--flag=value ...]"
    if full:
        body = flags.FLAGS.get_help()
    else:
        # every tool's flags are DEFINEd in this module; absl titles them with its name
        body = flags.FLAGS.module_help(__name__).strip().replace(f"{__name__}:", "flags:", 1)
        body += ("\n\nFlags may also come from a file: --flagfile=PATH (flags given after "
                 "it override it). Paths may use ~ and $VARS (--source=~/photos). "
                 "--helpfull lists every flag, absl's own included.")
    return f"{text}\n\n{body}\n"


def parse_flags_or_fail(program: str, argv, usage: str | None = None):
    """Parses absl flags; --help prints the tool's flags and exits 0; a bad flag or
    flagfile is one line and exit 2, not a usage dump."""
    from absl import logging

    # TF's and tfds' INFO/WARNING lines are not for CLI users
    logging.set_verbosity(logging.ERROR)
    asked = [t.split("=", 1)[0] for t in argv[1:] if t.split("=", 1)[0] in HELP_TOKENS]
    if asked:
        full = any("full" in t for t in asked)
        sys.stdout.write(help_text(program, usage, full))
        sys.stdout.flush()
        sys.exit(0)
    argv = [_expand_flagfile(token) for token in argv]
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(program, str(e).splitlines()[0].replace("ERROR:: ", ""))


def _expand_flagfile(token: str) -> str:
    """--flagfile=$CONFIGS/x.cfg with $VARS expanded (absl itself expands only `~`)."""
    name, eq, value = token.partition("=")
    return f"{name}={expand_path(value)}" if eq and name in ("--flagfile", "-flagfile") \
        else token


def run_command(program: str, define_flags, body, argv=None, usage: str | None = None,
                commands: tuple = ()):
    """Runs a tool's `body(flag_values)` under absl with the project's error contract.

    `define_flags()` defines the tool's flags and returns the values `body` reads (the
    FlagValues or a ToolFlags); `body` returns the lines to print. TensorFlow is imported
    (quietly) after the flags parsed and before `body` runs. A UserError becomes one line
    on stderr and exit 2; a DivergenceError (training stopped on NaN/inf) one line and exit
    1; an OSError about a file or folder the user named (read-only file system, permission,
    a file where a folder belongs) one line and exit 2. With `commands`, one positional
    word may name a sub-command; it reaches `body(flag_values, command)` (None when not
    given).
    """
    from absl import app

    flag_values = define_flags()
    argv = list(argv or sys.argv)
    program = program_name(program, argv)
    if usage is None:
        usage = getattr(sys.modules.get(body.__module__), "__doc__", None)
    argv = parse_flags_or_fail(program, argv, usage)

    def _main(args):
        words = list(args[1:])
        command = words.pop(0) if commands and words and words[0] in commands else None
        if words:
            hint = f" Commands: {', '.join(commands)}." if commands else ""
            fail(program, f"Unexpected arguments {words}; flags look like --name=value.{hint}")
        quiet_tensorflow_import()
        try:
            for line in (body(flag_values, command) if commands else body(flag_values)):
                print(line)
        except UserError as e:
            fail(program, str(e))
        except DivergenceError as e:
            fail(program, str(e), code=1)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except OSError as e:
            if e.filename is None:
                raise
            fail(program, f"Cannot use {e.filename!r}: {e.strerror or e}.")

    app.run(_main, argv=argv, flags_parser=lambda a: a)


# ---------------------------------------------------------------------- defining flags
# Every flag is DEFINEd in this module, so that absl files them all under one module name
# (`help_text` lists that module's flags).

# Flags that name files or folders, in every tool (the training flags from Config, the
# builder's from BuildOptions, each tool's own): their values get `~` and $VARS expanded
# when parsed, from the command line or a flagfile (bash leaves `--source=~/photos`
# alone: no expansion after `=`). Values that are not paths pass unchanged (`digits`,
# `tfds:mnist`, `inception`); `classifier:~/c.keras` expands after its prefix.
PATH_FLAGS = frozenset({"workdir", "data", "out", "model", "fake", "source", "boxes",
                        "features", "tfds_data_dir", "inception_weights", "init_from",
                        "image", "ort_web"})


def expand_path(value):
    """`~`, `~user` and $VAR / ${VAR} expanded (an unset variable is left as written, so
    the error about the path shows it); also after a `name:` prefix (classifier:~/c.keras)."""
    if not isinstance(value, str) or not value:
        return value
    value = os.path.expandvars(value)
    prefix, colon, rest = value.partition(":")
    if colon and prefix.isidentifier() and rest.startswith("~"):
        return f"{prefix}:{os.path.expanduser(rest)}"
    return os.path.expanduser(value)


class PathParser(flags.ArgumentParser):
    """absl's string flag, with `expand_path` applied to each value it parses."""

    syntactic_help = "a path; ~ and $VARS are expanded"

    def parse(self, argument):
        return expand_path(argument)

    def flag_type(self):
        return "string"


def define_string(name: str, default, help_text: str) -> None:
    """DEFINE_string, or a path flag (PATH_FLAGS) whose values expand ~ and $VARS."""
    if name in PATH_FLAGS:
        flags.DEFINE(PathParser(), name, default, help_text,
                     serializer=flags.ArgumentSerializer())
    else:
        flags.DEFINE_string(name, default, help_text)


def _base_type(hint):
    """int | None -> (int, True); tuple[int, ...] | None -> (tuple, True)."""
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    return typing.get_origin(hint) or hint, optional


def field_help(field: dataclasses.Field) -> str:
    """The help text a dataclass field carries (`metadata={"help": ...}`)."""
    return field.metadata["help"]


def define_from_dataclass(cls, flag_names: dict | None = None, choices: dict | None = None):
    """One absl flag per field of dataclass `cls` (type from its annotations, default and
    help from the field; `{name}` in a help text is filled from `choices`). A name another
    tool already defined in this process keeps its flag; only its help becomes this one's."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = (flag_names or {}).get(field.name, field.name)
        default, help_text = field.default, field_help(field).format(**(choices or {}))
        if name in flags.FLAGS:
            flags.FLAGS[name].help = help_text  # --help shows the running tool's text
            continue
        kind, _ = _base_type(hints[field.name])
        if kind is bool:
            flags.DEFINE_boolean(name, default, help_text)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text)
        elif kind is tuple:
            flags.DEFINE_list(name, None if default is None else [str(v) for v in default],
                              help_text)
        else:
            define_string(name, default, help_text)
    return flags.FLAGS


def values_from_flags(cls, flag_values, flag_names: dict | None = None) -> dict:
    """Field values of `cls` read from parsed flags (integer lists parsed, UserError). A
    flag the user did not set gives the field's default: another tool in the same process
    may have defined a flag of that name with its own default (e.g. --model, an export)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        name = (flag_names or {}).get(field.name, field.name)
        if (isinstance(flag_values, flags.FlagValues) and not flag_values[name].present
                and field.default is not dataclasses.MISSING):
            values[field.name] = field.default
            continue
        value = getattr(flag_values, name)
        kind, _ = _base_type(hints[field.name])
        if kind is tuple and value is not None:
            value = parse_int_list(name, value)
        values[field.name] = value
    return values


class ToolFlags:
    """A tool's own flags, and the parsed values as that tool sees them: a flag the user
    did not set reads THIS tool's default. Tools share absl's one FlagValues, and a name two
    tools define (--model: an architecture for training, an export for the others) keeps
    the first definer's default, which must not leak into another tool run in the same
    process (tests).

        tool = ToolFlags()
        tool.string("model", "", "An export folder, or a workdir with an export.")
        ...  # after parsing: tool.model
    """

    def __init__(self):
        self._defaults = {}

    def _define(self, kind: str, name: str, default, help_text: str) -> None:
        self._defaults[name] = default
        if name in flags.FLAGS:
            flags.FLAGS[name].help = help_text  # --help shows this tool's text
            return
        if kind == "string":
            define_string(name, default, help_text)
        else:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_text)

    def string(self, name: str, default, help_text: str) -> None:
        self._define("string", name, default, help_text)

    def integer(self, name: str, default, help_text: str) -> None:
        self._define("integer", name, default, help_text)

    def float(self, name: str, default, help_text: str) -> None:
        self._define("float", name, default, help_text)

    def boolean(self, name: str, default, help_text: str) -> None:
        self._define("boolean", name, default, help_text)

    def multi_string(self, name: str, default, help_text: str) -> None:
        """A flag given once per value (--image=a.png --image=b.png): a list (each value
        expanded as a path for PATH_FLAGS)."""
        self._defaults[name] = default
        if name in flags.FLAGS:
            flags.FLAGS[name].help = help_text
            return
        if name in PATH_FLAGS:
            flags.DEFINE_multi(PathParser(), flags.ArgumentSerializer(), name, default,
                               help_text)
        else:
            flags.DEFINE_multi_string(name, default, help_text)

    def __getattr__(self, name):
        if name in self._defaults and not flags.FLAGS[name].present:
            return self._defaults[name]
        return getattr(flags.FLAGS, name)

    def __getitem__(self, name):
        return flags.FLAGS[name]


def parse_int_list(name: str, values) -> tuple[int, ...]:
    """'3,17,42' or ['3', '17', '42'] -> (3, 17, 42); UserError naming --name otherwise.
    The one integer-list parser of every tool."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        return tuple(int(str(v).strip()) for v in values)
    except (TypeError, ValueError):
        raise UserError(f"--{name} must be integers separated by commas, "
                        f"got {','.join(str(v) for v in values)!r}.") from None


def registered_names(module: str, register: str) -> list[str]:
    """The names `module` registers with calls `register("name", ...)` (e.g.
    "LOSSES.register", or "metric" for a decorator that registers), read from its source
    without importing it.

    Help texts list the registries' names, but the registries live next to their
    TensorFlow code, and `--help` must answer without loading TensorFlow; reading the
    registration calls keeps the registry the one list (tests/test_cli.py asserts the names
    read equal the live registries)."""
    path = importlib.util.find_spec(module).origin
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        first = node.args[0] if isinstance(node, ast.Call) and node.args else None
        if (isinstance(first, ast.Constant) and isinstance(first.value, str)
                and ast.unparse(node.func) == register):
            names.add(first.value)
    return sorted(names)
