"""README's commands, as written (issue 22: "a test runs README's code blocks as written").

Every ```bash block of README.md and configs/README.md is read at test time (never copied
here). Each logical line (backslash continuations joined, `&&`/`;`/`|` split, comments
stripped, leading `VAR=value` assignments dropped) is one command, and each command of the
package (`dcgan-tf NAME ...`, `python -m dcgan_tf[.X] ...`) is checked two ways:

- FLAGS (every command): the subcommand or module exists, every `--flag` (and `--noflag`)
  is a flag of that tool, positional words are the tool's sub-commands, and `--config=NAME`
  names a shipped config. Optional groups `[--a=1 | --b]` are synopsis notation: their flag
  names are checked too, `[--flag=value ...]` is the generic placeholder.
- RUN / PARSE / SKIP, by the first row of `TABLE` whose pattern matches: RUN commands run
  in this process (tests/conftest.py's run_main, through the `dcgan-tf` dispatcher) in a
  temporary folder that is both the current folder and $HOME, with the command text as
  README writes it, optional groups dropped, and the row's `append` flags added at the end
  (absl: the last value wins), which makes training tiny and caps sample counts. A command
  matching no row is only FLAG-checked; a RUN row that matches no README command fails
  (README changed: update the row).

Inline commands (`dcgan-tf ...` in backticks, also across a line break) of both READMEs
are FLAG-checked as well (placeholders in capitals and `...` allowed).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import importlib.util
import json
import os
import re
import shlex
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import numpy as np
import pytest
from conftest import run_main
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
READMES = ("README.md", os.path.join("configs", "README.md"))

# Programs of README lines that are not this package's: not run, not checked. Anything else
# that is not `dcgan-tf` / `python -m dcgan_tf...` fails (a misspelt program name).
IGNORED_PROGRAMS = {"pip", "pip3", "curl", "tensorboard", ".", "source", "cd", "export"}
IGNORED_PYTHON_MODULES = {"venv", "http.server"}  # `python3 -m venv .venv`, a static server
SKIPPED_PYTHON_MODULES = {"pytest": "the test suite itself (it runs this test)"}

# Training made tiny: a few steps of narrow networks, outputs every 2 steps.
TINY = ("--train_steps=4", "--ngf=8", "--ndf=8", "--batch_size=16", "--sample_every=2",
        "--checkpoint_every=2", "--log_every=2")


@dataclass
class Row:
    """How the commands matching `pattern` (re.search on the normalised command text,
    `dcgan-tf NAME --flag=value ...`, optional groups removed) are checked."""
    pattern: str
    how: str                    # "run", "parse" (flags only) or "skip"
    why: str                    # what the row is for / why not run
    stage: int = 0              # RUN order: 0 data, 1 training, 2 export, 3 users of a
                                # run, 4 users of what stage 3 wrote
    append: tuple = ()          # RUN: flags added after the command as README writes it
    xfail: str = ""             # RUN: README's command fails today (strict: fix README)


# Commands that need other runs first run after them (stage, then README order): the
# memorisation check of runs/cat is in README above the build of data/cat64.
TABLE = [
    # ---- data (stage 0): folders the test makes in $HOME (see `world`)
    Row(r"^dcgan-tf build --source=~/Pictures/cat ", "run",
        "6 made-up photos in ~/Pictures/cat; no cat face in them -> centre crops", 0),
    Row(r"^dcgan-tf build --source=~/digits_by_class ", "run",
        "3 class subfolders of digits PNGs in ~/digits_by_class", 0),
    Row(r"^dcgan-tf build --source=~/singers ", "parse",
        "MTCNN face crops need photos with faces (none offline)"),
    Row(r"--source=tfds:|--data=tfds:", "parse", "downloads a tfds dataset"),
    Row(r"^dcgan-tf build --source=mnist5k --stack_digits=", "run",
        "stacked MNIST offline, capped at 200 stacks", 0, ("--stack_digits=200",)),
    # ---- training (stage 1): tiny
    Row(r"^dcgan-tf train --config=digits --workdir=runs/digits$", "run",
        "the offline default, tiny (TINY appended)", 1, TINY),
    Row(r"^dcgan-tf train --config=cat64 --data=data/cat64 --workdir=runs/cat$", "run",
        "source 000's config on the 6 built crops, tiny, batch 4", 1,
        TINY[:-4] + ("--batch_size=4", "--sample_every=2", "--checkpoint_every=2")),
    Row(r"^dcgan-tf train --config=stacked_mnist --workdir=runs/stacked_mnist$", "parse",
        "offline, but this chain (a third training, a classifier of 5,000 digits: ~20 s) "
        "is over this file's time budget"),
    Row(r"^dcgan-tf train --config=pggan_digits ", "run",
        "--dry_run appended: the config resolved and both networks built, no training (4 "
        "steps of narrow networks cost 14 s here, over this file's budget)", 1,
        ("--dry_run",)),
    Row(r"^dcgan-tf train --config=(mnist28|cdcgan_mnist) --workdir", "parse",
        "the config's data is tfds:mnist (a download)"),
    Row(r"--strategy=multi_worker", "parse", "needs a cluster of machines (TF_CONFIG)"),
    Row(r"^dcgan-tf train --config=NAME ", "parse", "synopsis (placeholders)"),
    # ---- export, fine-tuning (stage 2)
    Row(r"^dcgan-tf export --workdir=runs/digits$", "run",
        "optional groups dropped: the newest checkpoint to runs/digits/export", 2),
    Row(r"^dcgan-tf export --workdir=runs/digits --format=", "parse",
        "ONNX/TFLite/web conversion and checks: tests/test_runtimes.py and "
        "tests/test_web_static.py run them"),
    Row(r"^dcgan-tf train --config=digits --data=~/my_digits --init_from=runs/digits ", "run",
        "~/my_digits: ten class folders of 3 digits each; tiny (TINY appended, as the source)",
        2, TINY),
    Row(r"^dcgan-tf directions --model=runs/digits$", "run",
        "SeFa + GANSpace into runs/digits/export (before README's generate/serve use them)",
        3),
    # ---- users of a trained run (stage 3)
    Row(r"^dcgan-tf generate --model=runs/digits --out=gen --num=1000 --individual$", "run",
        "--num capped at 60 (fd needs 50)", 3, ("--num=60",)),
    Row(r"^dcgan-tf generate --model=runs/digits ", "run", "as written", 3),
    Row(r"^dcgan-tf evaluate --model=runs/digits --data=digits ", "run",
        "--num_samples capped at 100 (the digits classifier: 2 epochs, conftest)", 3,
        ("--num_samples=100",)),
    Row(r"^dcgan-tf project --model=runs/digits ", "run",
        "the images of the generate above (--num=60 keeps seeds 3 and 8); steps and starts "
        "capped", 4, ("--steps=6", "--starts=1", "--warm_steps=2")),
    Row(r"^dcgan-tf evaluate --fake=gen/images --data=digits ", "run",
        "the 60 images of the generate above", 3),
    Row(r"^dcgan-tf evaluate train-classifier --data=data/labelled --out=clf.keras$", "run",
        "data/labelled: 10 class folders of digits the test makes; 1 epoch", 3,
        ("--classifier_epochs=1",)),
    Row(r"^dcgan-tf evaluate --model=runs/x --data=data/labelled ", "run",
        "runs/x: a link to runs/digits; --num_samples capped at 100", 4,
        ("--num_samples=100",)),
    Row(r"^dcgan-tf evaluate train-classifier --data=mnist5k |--model=runs/stacked_mnist ",
        "parse", "the stacked-MNIST chain: see train --config=stacked_mnist"),
    Row(r"^dcgan-tf evaluate .*--metrics=[a-z_,]*(fid|kid|is\b|pr\b)", "parse",
        "InceptionV3's ImageNet weights are a download"),
    Row(r"^dcgan-tf conditional-accuracy --model=runs/digits$", "run",
        "optional group dropped; --per_class capped at 5", 3, ("--per_class=5",)),
    Row(r"^dcgan-tf nearest --model=runs/cat --data=data/cat64 --out=near$", "run",
        "optional group dropped; --num capped at 8 (no Inception weights: pixels only)", 3,
        ("--num=8",)),
    Row(r"^dcgan-tf report --workdir=runs/digits$", "run", "as written", 3),
    Row(r"^dcgan-tf serve --model=runs/digits$", "run",
        "--port=0 appended; README's curl requests are sent to it, then Ctrl-C", 3,
        ("--port=0",)),
]
FALLBACK = Row(r"", "parse", "not in TABLE: flags checked only")


# ----------------------------------------------------------------------- extraction

@dataclass
class Command:
    source: str                 # "README.md:123"
    text: str                   # the logical line as written (continuations joined)
    tokens: list                # argv after the program: [subcommand, *flags] or [*flags]
    program: str                # "dcgan-tf", "python -m dcgan_tf.train", "pip", ...
    module: str = ""            # the module whose main() runs, "" when not ours
    optional: list = field(default_factory=list)  # flag tokens of [--optional] groups

    @property
    def normalised(self) -> str:
        """`dcgan-tf NAME --flag ...`, also for `python -m dcgan_tf.X` (what TABLE matches)."""
        names = {module: name for name, module in dispatcher_modules().items()}
        if self.program.startswith("python -m dcgan_tf.") and self.module in names:
            return " ".join(["dcgan-tf", names[self.module], *self.tokens])
        return " ".join([self.program, *self.tokens])

    @property
    def name(self) -> str:
        """The subcommand (`evaluate`), "" when the command is not this package's."""
        words = self.normalised.split()
        return words[1] if self.module and len(words) > 1 else ""


OPTIONAL_GROUP = re.compile(r"\[(--[^\]]*)\]")
OPERATORS = {"&&", "||", ";", "|", "&", ">", ">>", "<", "2>", "2>&1"}


def bash_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the block's first line, block text) of every ```bash fence, also
    indented ones (inside list items)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if re.match(r"^\s*```bash\s*$", lines[i]):
            start, body = i + 2, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i])
                i += 1
            blocks.append((start, "\n".join(body)))
        i += 1
    return blocks


def logical_lines(block: str, first_line: int) -> list[tuple[int, str]]:
    """Backslash continuations joined; comment-only and blank lines dropped."""
    out, pending, start = [], "", first_line
    for n, line in enumerate(block.splitlines(), first_line):
        if not pending:
            start = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined and not joined.startswith("#"):
            out.append((start, joined))
    return out


def split_commands(line: str) -> list[tuple[list[str], list[str]]]:
    """A logical line -> [(argv, optional flag tokens)]: optional `[--...]` groups taken out,
    comments stripped, split at shell operators, `VAR=value` prefixes dropped. Output
    redirections (`> file`) drop the file name."""
    optional = []
    for group in OPTIONAL_GROUP.findall(line):
        optional += [t for t in group.replace("|", " ").split() if t.startswith("--")]
    line = OPTIONAL_GROUP.sub(" ", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    commands, current, skip_next = [], [], False
    for token in lexer:
        if skip_next:
            skip_next = False
            continue
        if token in (">", ">>", "<", "2>"):  # a redirection: its file is not an argument
            skip_next = True
            continue
        if token in OPERATORS:
            if current:
                commands.append(current)
            current = []
            continue
        current.append(token)
    if current:
        commands.append(current)
    result = []
    for argv in commands:
        while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
            argv = argv[1:]
        if argv:
            result.append((argv, optional))
            optional = []  # the groups belong to the first command of the line
    return result


@functools.cache
def dispatcher_modules() -> dict[str, str]:
    from dcgan_tf.__main__ import COMMANDS

    return {name: module for name, (module, _) in COMMANDS.items()}


def to_command(argv: list[str], optional: list[str], source: str, text: str) -> Command:
    """argv -> Command, the module set when the program is this package's."""
    commands = dispatcher_modules()
    if argv[0] == "dcgan-tf" or argv[:3] in (["python", "-m", "dcgan_tf"],
                                              ["python3", "-m", "dcgan_tf"]):
        rest = argv[1:] if argv[0] == "dcgan-tf" else argv[3:]
        sub = rest[0].replace("_", "-") if rest and not rest[0].startswith("-") else ""
        return Command(source, text, rest, "dcgan-tf", commands.get(sub, ""), optional)
    if argv[0] in ("python", "python3") and len(argv) > 2 and argv[1] == "-m":
        module = argv[2]
        ours = module if module in set(commands.values()) else ""
        return Command(source, text, argv[3:], f"python -m {module}", ours, optional)
    return Command(source, text, argv[1:], argv[0], "", optional)


def readme_commands(text: str, name: str = "README.md") -> list[Command]:
    """Every command of every ```bash block of `text`, in order."""
    out = []
    for first, block in bash_blocks(text):
        for n, line in logical_lines(block, first):
            for argv, optional in split_commands(line):
                out.append(to_command(argv, optional, f"{name}:{n}", line))
    return out


def inline_commands(text: str, name: str = "README.md") -> list[Command]:
    """`dcgan-tf ...` / `python -m dcgan_tf...` in backticks outside fences (a span may
    cross a line break)."""
    prose = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    out = []
    for match in re.finditer(r"`([^`]+)`", prose):
        span = " ".join(match.group(1).split())
        if not re.match(r"^(dcgan-tf\b|python3? -m dcgan_tf\b)", span):
            continue
        line = prose.count("\n", 0, match.start()) + 1
        for argv, optional in split_commands(span.replace("...", " ")):
            out.append(to_command(argv, optional, f"{name}:{line}", span))
    return out


# ------------------------------------------------------------------------- checking

def _positional_words(module_name: str) -> set[str]:
    """The `commands=(...)` a tool passes to run_command (evaluate's train-classifier)."""
    spec = importlib.util.find_spec(module_name)
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_command":
            for kw in node.keywords:
                if kw.arg == "commands":
                    return set(ast.literal_eval(kw.value))
    return set()


ABSL_FLAGS = {"flagfile", "help", "helpfull", "helpshort", "h"}


def tool_flags(module_name: str) -> set[str]:
    """Names of the flags `module_name`'s main() accepts, from what defines them: the Config
    fields (train, plus --config), BuildOptions (build) or the tool's ToolFlags."""
    from dcgan_tf.utils.cli import ToolFlags

    if module_name == "dcgan_tf.train":
        from dcgan_tf.config import Config
        from dcgan_tf.flags import define_flags

        define_flags()
        return {f.name for f in dataclasses.fields(Config)} | {"config"} | ABSL_FLAGS
    if module_name == "dcgan_tf.data.build":
        from dcgan_tf.data.build import FLAG_NAMES, define_build_flags
        from dcgan_tf.data.options import BuildOptions

        define_build_flags()
        return {FLAG_NAMES.get(f.name, f.name) for f in dataclasses.fields(BuildOptions)} \
            | ABSL_FLAGS
    module = importlib.import_module(module_name)
    (define,) = [f for name, f in vars(module).items()
                 if re.match(r"^define_\w*flags$", name) and callable(f)
                 and f.__module__ == module_name]
    tool = define()
    assert isinstance(tool, ToolFlags), module_name
    return set(tool._defaults) | ABSL_FLAGS


def problems(cmd: Command, inline: bool = False) -> list[str]:
    """What is wrong with a command of this package ([] when nothing): unknown subcommand or
    module, unknown flags, unexpected positional words, an unknown --config name."""
    from absl import flags as absl_flags

    from dcgan_tf.flags import shipped_configs

    where = f"{cmd.source}: `{cmd.text}`"
    words = [t for t in cmd.tokens if not t.startswith("-")]
    if cmd.program == "dcgan-tf":
        if not words or cmd.tokens[0].startswith("-"):  # `dcgan-tf --help`, `--version`
            bad = [t for t in cmd.tokens if t not in ("--help", "-h", "help", "--version")]
            return [f"{where}: dcgan-tf takes a command first, not {bad}"] if bad else []
        if not cmd.module:
            if inline and words[0].isupper():  # `dcgan-tf NAME --help`: a placeholder
                return []
            return [f"{where}: unknown subcommand {words[0]!r}"]
        words = words[1:]
        args = cmd.tokens[1:]
    elif not cmd.module:
        return [f"{where}: {cmd.program!r} is not a module of dcgan_tf with a command"]
    else:
        args = cmd.tokens
    known = tool_flags(cmd.module)
    found = []
    for token in [*args, *cmd.optional]:
        if not token.startswith("--"):
            continue
        name, _, value = token[2:].partition("=")
        if name == "flag":  # `[--flag=value ...]`, the documented placeholder
            continue
        boolean_off = name.startswith("no") and name[2:] in known \
            and absl_flags.FLAGS[name[2:]].boolean
        if name not in known and not boolean_off:
            found.append(f"{where}: {cmd.normalised.split(' --')[0]} has no flag --{name}")
        if name == "config" and cmd.module == "dcgan_tf.train" and re.match(r"^[a-z0-9_]+$",
                                                                              value):
            if value not in shipped_configs():
                found.append(f"{where}: --config={value} is not a shipped config")
    allowed = _positional_words(cmd.module)
    stray = [w for w in words if w not in allowed]
    if stray and not inline:  # inline spans hold placeholders (`--num_samples=PER_CLASS x K`)
        found.append(f"{where}: unexpected words {stray} (commands: {sorted(allowed)})")
    return found


def row_for(cmd: Command) -> Row:
    for row in TABLE:
        if re.search(row.pattern, cmd.normalised):
            return row
    return FALLBACK


def all_readme_commands() -> list[Command]:
    out = []
    for name in READMES:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            out += readme_commands(f.read(), name)
    return out


def all_inline_commands() -> list[Command]:
    out = []
    for name in READMES:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            out += inline_commands(f.read(), name)
    return out


def _ours(cmd: Command) -> bool:
    return cmd.program == "dcgan-tf" or cmd.program.startswith("python -m dcgan_tf")


def _id(cmd: Command) -> str:
    return f"{cmd.source} {cmd.normalised}"[:90]


# ------------------------------------------------------------------ unit of the checker

FAKE_README = """\
# x

```bash
python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]"
dcgan-tf train --config=digits --workdir=runs/d \\
    --train_steps=3   # a comment
TF_CONFIG='{"a": 1}' \\
  dcgan-tf train --config=digits --strategy=multi_worker
dcgan-tf export --workdir=runs/d [--step=2500 | --best] [--out=PATH]
dcgan-tf train --config=NAME --workdir=DIR [--flag=value ...]
dcgan-tf evaluate train-classifier --data=digits --out=c.keras
python -m dcgan_tf.nearest --model=m --data=digits > result.txt
curl localhost:8000/api/info      # the info
dcgan-tf train --config=digits --noexport
```

  ```bash
  dcgan-tf generate --model=runs/d --out=gen --num=4 --individual
  ```
"""


def _problems_of(text):
    return [p for c in readme_commands(text) if _ours(c) for p in problems(c)]


def test_extractor_reads_blocks_continuations_comments_and_groups():
    cmds = readme_commands(FAKE_README)
    assert [c.program for c in cmds] == [
        "python -m venv", ".", "pip", "dcgan-tf", "dcgan-tf", "dcgan-tf", "dcgan-tf", "dcgan-tf",
        "python -m dcgan_tf.nearest", "curl", "dcgan-tf", "dcgan-tf"]
    train = cmds[3]
    assert train.tokens == ["train", "--config=digits", "--workdir=runs/d", "--train_steps=3"]
    assert train.source == "README.md:5" and train.module == "dcgan_tf.train"
    assert cmds[4].tokens[-1] == "--strategy=multi_worker"  # TF_CONFIG=... dropped
    assert cmds[5].tokens == ["export", "--workdir=runs/d"]
    assert cmds[5].optional == ["--step=2500", "--best", "--out=PATH"]
    assert cmds[8].tokens == ["--model=m", "--data=digits"]  # `> result.txt` dropped
    assert cmds[8].normalised == "dcgan-tf nearest --model=m --data=digits"
    assert cmds[-1].tokens[-1] == "--individual"  # an indented block
    assert _problems_of(FAKE_README) == []


@pytest.mark.parametrize("line, expected", [
    ("dcgan-tf train --config=digits --wrokdir=runs/d", "has no flag --wrokdir"),
    ("dcgan-tf trian --config=digits", "unknown subcommand 'trian'"),
    ("dcgan-tf export --workdir=runs/d [--stpe=2]", "has no flag --stpe"),
    ("python -m dcgan_tf.nearst --model=m", "is not a module of dcgan_tf"),
    ("dcgan-tf generate --model=m extra", "unexpected words ['extra']"),
    ("dcgan-tf train --config=digit --workdir=runs/d", "not a shipped config"),
    ("dcgan-tf train --config=digits --noema_decay", "has no flag --noema_decay"),
])
def test_checker_fails_on_a_misspelt_command(line, expected):
    found = _problems_of(f"```bash\n{line}\n```\n")
    assert len(found) == 1 and expected in found[0], found


def test_a_misspelt_program_is_not_ignored():
    (cmd,) = readme_commands("```bash\ndcgantf train --config=digits\n```\n")
    assert not _ours(cmd) and cmd.program not in IGNORED_PROGRAMS


# ----------------------------------------------------------------- checks on README

README_COMMANDS = all_readme_commands()
PACKAGE_COMMANDS = [c for c in README_COMMANDS if _ours(c)]


def test_readme_has_only_known_programs():
    """Every README command is this package's, or a program listed as not ours."""
    unknown = []
    for cmd in README_COMMANDS:
        if _ours(cmd) or cmd.program in IGNORED_PROGRAMS:
            continue
        module = cmd.program.split()[-1] if cmd.program.startswith("python") else ""
        if module in IGNORED_PYTHON_MODULES or module in SKIPPED_PYTHON_MODULES:
            continue
        unknown.append(f"{cmd.source}: `{cmd.text}`")
    assert not unknown, "\n".join(unknown)


def test_readme_commands_name_real_flags():
    """Every package command of README's bash blocks (RUN, PARSE and the rest alike)."""
    assert len(PACKAGE_COMMANDS) > 10  # the extractor still finds README's commands
    found = [p for cmd in PACKAGE_COMMANDS for p in problems(cmd)]
    assert not found, "\n".join(found)


def test_inline_commands_name_real_flags():
    found = [p for cmd in all_inline_commands() for p in problems(cmd, inline=True)]
    assert not found, "\n".join(found)


def test_every_run_row_matches_a_readme_command():
    """A RUN row that no README command matches any more: README changed, so the row
    (and what the test runs) must follow."""
    used = {id(row_for(c)) for c in PACKAGE_COMMANDS}
    stale = [row.pattern for row in TABLE if row.how == "run" and id(row) not in used]
    assert not stale, stale


def test_skipped_readme_commands():
    """The commands neither run nor parsed, each with its reason (shown with -rs)."""
    skipped = [f"{c.source}: {c.text} ({SKIPPED_PYTHON_MODULES[c.program.split()[-1]]})"
               for c in README_COMMANDS
               if c.program.startswith("python") and c.program.split()[-1]
               in SKIPPED_PYTHON_MODULES]
    if skipped:
        pytest.skip("; ".join(skipped))


# ---------------------------------------------------------------- running README

def _run_cases():
    cases, seen = [], set()
    for position, cmd in enumerate(PACKAGE_COMMANDS):
        row = row_for(cmd)
        if row.how != "run":
            continue
        key = (cmd.normalised, row.append)
        if key in seen:  # the same command again (train in Set up and in Generate)
            continue
        seen.add(key)
        cases.append((row.stage, position, cmd, row))
    cases.sort(key=lambda c: c[:2])
    return [(cmd, row) for _, _, cmd, row in cases]


RUN_CASES = _run_cases()


def _write_png(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


class World:
    """The folder README's commands run in (its current folder and $HOME), with the inputs
    README's paths name; runs the RUN commands in order, each once."""

    def __init__(self, root):
        from dcgan_tf.data.digits import load_digits

        self.root, self.results, self.served = root, {}, {}
        images, labels = load_digits(32)[:2]
        gray = np.clip((images[..., 0] + 1) * 127.5, 0, 255).astype(np.uint8)
        rng = np.random.default_rng(0)
        for i in range(6):  # "photos" of no cat: the builder takes centre crops
            photo = rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)
            _write_png(os.path.join(root, "Pictures", "cat", f"cat_{i}.png"), photo)
        for i in range(30):  # labelled digits in class folders
            _write_png(os.path.join(root, "digits_by_class", str(labels[i] % 3),
                                    f"{i}.png"), gray[i])
        for i in range(30):  # ~/my_digits: the fine-tuning example's ten class folders
            _write_png(os.path.join(root, "my_digits", str(i % 10), f"{i}.png"), gray[i])
        for i in range(100):  # `data/labelled` of the train-classifier example
            _write_png(os.path.join(root, "data", "labelled", str(labels[i]), f"{i}.png"),
                       gray[i])
        os.makedirs(os.path.join(root, "runs"), exist_ok=True)
        os.symlink("digits", os.path.join(root, "runs", "x"))  # `runs/x`: some run

    def argv(self, cmd: Command, row: Row) -> tuple[str, list[str]]:
        if cmd.program == "dcgan-tf":
            return "dcgan_tf.__main__", [*cmd.tokens, *row.append]
        return cmd.module, [*cmd.tokens, *row.append]

    def result(self, cmd: Command):
        for earlier, row in RUN_CASES:
            if earlier.normalised not in self.results:
                self.results[earlier.normalised] = self._run(earlier, row)
            if earlier is cmd:
                return self.results[cmd.normalised]
        raise AssertionError(cmd)

    def _run(self, cmd, row):
        module, args = self.argv(cmd, row)
        start = time.perf_counter()
        try:
            if cmd.name == "serve":
                return self._serve(module, args)
            return run_main(module, *args)
        finally:  # shown by `pytest -s`: where this file's time goes
            print(f"[readme] {time.perf_counter() - start:5.1f} s  {cmd.normalised[:100]}")

    def _serve(self, module, args):
        """serve as written (+ --port=0): README's curl requests are sent to it, then the
        server gets a Ctrl-C, as a user stops it."""
        from dcgan_tf import serve

        real = serve.create_server
        served, threads = self.served, []

        def create_server(app, host, port, *rest, **kw):
            server = real(app, host, port, *rest, **kw)
            loop = server.run

            def run():
                thread = threading.Thread(target=loop, daemon=True)
                thread.start()
                threads.append(thread)
                base = f"http://{host}:{server.effective_port}"
                served["page"] = urllib.request.urlopen(base + "/", timeout=60).status
                for curl in (c for c in README_COMMANDS if c.program == "curl"):
                    served[curl.text] = _send_curl(curl, base)
                server.task_dispatcher.shutdown()  # the request threads finish their replies
                raise KeyboardInterrupt  # then Ctrl-C, as a user stops the server

            server.run = run
            return server

        serve.create_server = create_server
        try:
            return run_main(module, *args)
        finally:
            serve.create_server = real
            for thread in threads:  # serve closed the server: its loop ends
                thread.join(timeout=10)
                assert not thread.is_alive(), "the server loop still runs after Ctrl-C"


def _send_curl(curl: Command, base: str) -> tuple[int, bytes]:
    """A README curl command (-X, -H, -d, -o) sent to `base` instead of localhost:8000."""
    args, url, method, headers, data = list(curl.tokens), "", "GET", {}, None
    while args:
        token = args.pop(0)
        if token == "-X":
            method = args.pop(0)
        elif token == "-H":
            key, _, value = args.pop(0).partition(":")
            headers[key.strip()] = value.strip()
        elif token == "-d":
            data = args.pop(0).encode()
        elif token == "-o":
            args.pop(0)
        elif not token.startswith("-"):
            url = re.sub(r"^(https?://)?(localhost|127\.0\.0\.1):8000", base, token)
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("readme_user"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("HOME", root)
        yield World(root)


# What a RUN command must have left behind (beyond exit 0), by the row's pattern.
LEFT_BEHIND = {
    r"^dcgan-tf train --config=digits ": ["runs/digits/export/export.json",
                                          "runs/digits/samples"],
    r"^dcgan-tf build --source=~/Pictures/cat ": ["data/cat64/metadata.json"],
    r"--num=1000 --individual": ["gen/images"],
    r"^dcgan-tf nearest ": ["near/nearest.png", "near/nearest.json"],
    r"^dcgan-tf report ": ["runs/digits/losses.png", "runs/digits/progress.gif"],
    r"--init_from=runs/digits": ["runs/my_digits/init_from.json"],
    r"^dcgan-tf directions ": ["runs/digits/export/directions.npz"],
    r"--mode=directions": ["walk/directions.png"],
    r"^dcgan-tf project .*--out=proj$": ["proj/z.npy", "proj/compare.png", "proj/fit.gif"],
    r"^dcgan-tf project .*--out=morph$": ["morph/morph.gif"],
    r"train-classifier --data=data/labelled": ["clf.keras"],
}


def _failure(world, cmd: Command, row: Row) -> str:
    """"" when README's command ran (exit 0, its outputs there), else what went wrong."""
    code, out, err = world.result(cmd)
    where = f"{cmd.source}: `{cmd.text}`" + (f" + {' '.join(row.append)}" if row.append else "")
    if code != 0:
        return f"{where}: exit {code}\n{err[-1500:]}"
    for pattern, paths in LEFT_BEHIND.items():
        if re.search(pattern, cmd.normalised):
            missing = [p for p in paths if not os.path.exists(os.path.join(world.root, p))]
            if missing:
                return f"{where}: wrote no {missing}"
    if cmd.name == "evaluate" and "train-classifier" not in cmd.tokens:
        try:
            json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return f"{where}: no JSON object on stdout: {out[-500:]!r}"
    if cmd.name == "serve":
        page = world.served.pop("page", None)
        bad = {k: v[0] for k, v in world.served.items() if v[0] != 200}
        if page != 200 or bad or not world.served:
            return f"{where}: page {page}, README's requests {bad or 'not sent'}"
    return ""


def test_readme_commands_run_as_written(world):
    """Every RUN command in order (stage, README order), as README writes it plus the row's
    `append`; one test, so the runs share one process and one temporary folder."""
    assert RUN_CASES
    failures = [f for cmd, row in RUN_CASES if not row.xfail
                for f in [_failure(world, cmd, row)] if f]
    assert not failures, "\n\n".join(failures)


KNOWN_FAILURES = [pytest.param(cmd, row, marks=pytest.mark.xfail(strict=True, reason=row.xfail),
                               id=_id(cmd)) for cmd, row in RUN_CASES if row.xfail] or [
    pytest.param(None, None, marks=pytest.mark.skip(reason="no README command is known to "
                                                    "fail today"), id="none")]


@pytest.mark.parametrize("cmd, row", KNOWN_FAILURES)
def test_readme_command_known_to_fail(cmd, row, world):
    """RUN commands README gets wrong today (the row's xfail says why): strict, so this
    fails once README (or the code) is fixed and the mark must go."""
    assert not _failure(world, cmd, row)
