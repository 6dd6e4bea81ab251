"""The training flags: one absl flag per `config.Config` field, and back.

`define_flags` generates the flags of `python -m dcgan_tf.train` from the Config fields
(same name, same default, the help the field carries); `config_from_flags` reads them once
into a frozen Config. `--config=NAME` names a config shipped in the package (dcgan_tf/
configs/NAME.cfg, also the repository's configs/) or a path. Nothing here imports
TensorFlow before the flags are parsed: `--help` answers before it loads. What a flagfile
set yields (`config_from_flags`): a run length to the command line's, the architecture
options another --model typed on the command line does not take, and a conditional
config's --num_classes to the class count of the --data.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags

from dcgan_tf.config import Config
from dcgan_tf.utils.cli import (ToolFlags, define_from_dataclass, expand_path, field_help,
                                registered_names, values_from_flags)
from dcgan_tf.utils.errors import UserError

# Registries whose names the help texts list ({models} in a Config field's help), as
# (module, registering call): read from the source, so TensorFlow stays unloaded.
REGISTRIES = {"models": ("dcgan_tf.models", "MODELS.register"),
              "losses": ("dcgan_tf.gan.losses", "LOSSES.register"),
              "metrics": ("dcgan_tf.metrics.catalog", "metric")}
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def choices(kind: str) -> str:
    """'bce, hinge, ...': the names registered in registry `kind` (a key of REGISTRIES)."""
    return ", ".join(registered_names(*REGISTRIES[kind]))


def define_flags() -> flags.FlagValues:
    """Defines one absl flag per Config field (idempotent); returns absl's FlagValues."""
    return define_from_dataclass(Config, choices={kind: choices(kind) for kind in REGISTRIES})


def define_settings(tool: ToolFlags, *names: str) -> None:
    """Another tool's flags that mean what the training flags of these names mean (string
    settings such as --tfds_split): the Config field's default and help."""
    fields = {field.name: field for field in dataclasses.fields(Config)}
    for name in names:
        tool.string(name, fields[name].default, field_help(fields[name]))


LENGTH_FLAGS = ("train_steps", "epochs", "total_kimg")


def command_line_flags(argv) -> set[str]:
    """Names of the flags written on the command line itself (not inside a --flagfile)."""
    names = set()
    for token in argv or []:
        if not token.startswith("-") or token in ("-", "--"):
            continue
        name = token.lstrip("-").split("=", 1)[0]
        if name.startswith("no") and name[2:] in flags.FLAGS and name not in flags.FLAGS:
            name = name[2:]
        names.add(name)
    return names


def config_from_flags(flag_values=None, argv=None) -> Config:
    """Reads the parsed flags into a Config (not yet validated).

    A run length given on the command line (`argv`, the tokens as typed) replaces the one a
    flagfile set: `--flagfile=configs/cat64.cfg --train_steps=100` trains 100 steps even
    though the flagfile says --epochs=400 (the other length is cleared). Both on the command
    line is still an error (Config.validate).
    """
    values = values_from_flags(Config, flag_values or flags.FLAGS)
    on_command_line = command_line_flags(argv)
    typed = on_command_line & set(LENGTH_FLAGS)
    if len(typed) == 1:
        (given,) = typed
        for other in LENGTH_FLAGS:
            if other != given:
                values[other] = 0
    if argv is not None:  # what a flagfile set yields to the command line and the data
        _drop_options_of_another_model(values, on_command_line)
        _num_classes_from_data(values, on_command_line)
    return Config(**values)


def _drop_options_of_another_model(values: dict, on_command_line: set[str]) -> None:
    """`--flagfile=configs/digits.cfg --model=mnist28`: the flagfile's architecture options
    (--ngf, --ndf, ...) that the model typed on the command line does not take are dropped,
    in one line on stderr; options typed on the command line stay (the model's error names
    them)."""
    if "model" not in on_command_line:
        return
    import sys

    from dcgan_tf.config import MODEL_OPTION_FIELDS
    from dcgan_tf.models import MODELS  # TensorFlow: only when a model is typed

    if values["model"] not in MODELS.names():
        return  # the trainer names the valid ones
    family = MODELS.get(values["model"])
    takes = set(family.options())
    dropped = [name for name in MODEL_OPTION_FIELDS if values.get(name) is not None
               and name not in on_command_line and name not in takes]
    if (values["resolution"] and "resolution" not in on_command_line
            and values["resolution"] not in family.resolutions):
        dropped.append("resolution")  # the model's own resolution instead
    if dropped:
        shown = ", ".join(f"--{n}={values[n]}" for n in dropped)
        for name in dropped:
            values[name] = 0 if name == "resolution" else None  # the builder's default
        print(f"--model={values['model']} does not take the flagfile's {shown}: dropped "
              "(the model's defaults instead).", file=sys.stderr, flush=True)


def _num_classes_from_data(values: dict, on_command_line: set[str]) -> None:
    """A conditional config (--num_classes > 0 from a flagfile, e.g. configs/digits.cfg)
    on labelled data of another class count takes the data's count, in one line on stderr.
    A --num_classes typed on the command line is kept, and the trainer refuses a mismatch
    (dcgan_tf.training.run_data)."""
    if not values["num_classes"] or "num_classes" in on_command_line or not values["data"]:
        return
    import sys

    from dcgan_tf.data.geometry import Geometry
    from dcgan_tf.data.sources import class_count  # TensorFlow: only for conditional configs

    geometry = Geometry(values["resolution"] or 32, values["channels"] or 3,
                        values["preprocess"], values["load_size"])
    try:
        count = class_count(values["data"], geometry, tfds_split=values["tfds_split"],
                            tfds_data_dir=values["tfds_data_dir"])
    except (UserError, OSError, ValueError):
        return  # the trainer opens the data and says what is wrong with it
    if count and count != values["num_classes"]:
        print(f"--num_classes={values['num_classes']} (from the flagfile) replaced by the "
              f"{count} classes of {values['data']!r}.", file=sys.stderr, flush=True)
        values["num_classes"] = count


def flagfile_values(path: str) -> dict:
    """{Config field: typed value} of the training flags a flagfile sets, parsed by absl
    as `python -m dcgan_tf.train` parses it (nested --flagfile lines included); for tools
    that build Configs from the shipped configs."""
    define_flags()
    parsed = flags.FLAGS
    parsed.unparse_flags()
    try:
        # the file's lines as --config reads them: a nested shipped config from the package
        parsed(["flagfile_values", *_config_tokens(path)])
        values = values_from_flags(Config, parsed)
        return {field.name: values[field.name] for field in dataclasses.fields(Config)
                if parsed[field.name].present}
    finally:
        parsed.unparse_flags()


# ---------------------------------------------------------------------- shipped configs


def shipped_configs() -> list[str]:
    """Names of the configs shipped in the package (`--config=NAME`)."""
    return sorted(n[:-4] for n in os.listdir(CONFIGS_DIR) if n.endswith(".cfg"))


def config_path(value: str) -> str:
    """--config=VALUE: the name of a shipped config (digits), else a flagfile path (a file
    of your own named like a shipped config: ./NAME.cfg; ~ and $VARS expanded)."""
    value = expand_path(value)
    name = value.removesuffix(".cfg")
    if "/" not in value and os.sep not in value and name in shipped_configs():
        return os.path.join(CONFIGS_DIR, name + ".cfg")
    if os.path.isfile(value):
        return value
    raise UserError(f"--config={value}: no such file, and not a shipped config (one of "
                    f"{shipped_configs()}).")


def _config_tokens(path: str, depth: int = 0) -> list[str]:
    """The flags a config file holds, as absl reads a flagfile: one per line, # and //
    comments skipped. A nested `--flagfile=configs/NAME.cfg` line (cat64_small_data.cfg)
    names a shipped config and is read from the package, so it resolves outside the
    repository too."""
    if depth > 10:
        raise UserError(f"--config: {path} nests configs more than 10 deep.")
    tokens = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", "//")):
                continue
            nested = line.split("=", 1)[1] if line.startswith("--flagfile=") else ""
            if nested.startswith("configs/") and nested[8:-4] in shipped_configs():
                tokens += _config_tokens(os.path.join(CONFIGS_DIR, nested[8:]), depth + 1)
            else:
                tokens.append(line)
    return tokens


def expand_config(argv: list[str]) -> list[str]:
    """argv with each `--config=NAME_OR_PATH` replaced, in place, by the flags of that file
    (flags after it override it, as after a --flagfile)."""
    out, rest = list(argv[:1]), list(argv[1:])
    while rest:
        token = rest.pop(0)
        if token == "--":
            out += [token, *rest]
            break
        name = token.lstrip("-").split("=", 1)[0]
        if not token.startswith("-") or name != "config":
            out.append(token)
            continue
        if "=" in token:
            value = token.split("=", 1)[1]
        elif rest:
            value = rest.pop(0)
        else:
            raise UserError("--config needs a value: the name of a shipped config "
                            f"({', '.join(shipped_configs())}) or a flagfile path.")
        out += _config_tokens(config_path(value))
    return out
