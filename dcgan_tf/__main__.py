"""dcgan-tf COMMAND [--flag=value ...]: every tool of the package behind one command.

    dcgan-tf train --config=digits --workdir=runs/digits
    dcgan-tf build --source=PHOTOS --out=DATA --size=64 --crop=cat_face
    dcgan-tf generate --model=runs/digits --out=samples

`python -m dcgan_tf` is the same command, and each tool also runs as `python -m
dcgan_tf.X`. `dcgan-tf COMMAND --help` lists the flags of one command.
"""

from __future__ import annotations

import difflib
import importlib
import sys

# command -> (module with main(argv), one line for `dcgan-tf --help`). The modules load by
# name, only the one asked for: no library module imports a command.
COMMANDS = {
    "train": ("dcgan_tf.train", "Train (or resume) a GAN from a config and flags."),
    "build": ("dcgan_tf.data.build", "Turn photos, an .npz or a tfds dataset into TFRecords."),
    "generate": ("dcgan_tf.generate", "Images from a trained generator: samples, "
                 "interpolations, arithmetic."),
    "evaluate": ("dcgan_tf.evaluate", "Score a generator or a folder of images (FID, KID, "
                 "SWD, ...)."),
    "export": ("dcgan_tf.export", "Export a run's generator as a folder that loads without "
               "dcgan_tf."),
    "directions": ("dcgan_tf.directions", "Latent directions (SeFa, GANSpace, class means) "
                   "into an export, for serve's sliders."),
    "report": ("dcgan_tf.report", "Progress animation and loss plot of a run."),
    "serve": ("dcgan_tf.serve", "Web app: sample an exported generator, slide its labels."),
    "nearest": ("dcgan_tf.nearest", "Memorisation check: nearest training image of each "
                "sample."),
    "project": ("dcgan_tf.project", "Find the latent code of a real photo (GAN inversion), "
                "and morph between two."),
    "conditional-accuracy": ("dcgan_tf.conditional_accuracy", "Alias of evaluate "
                             "--metrics=cond_acc: does a conditional generator draw the "
                             "asked class?"),
}
PROGRAM = "dcgan-tf"
HELP_TOKENS = ("-h", "--help", "-help", "help")


def help_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"usage: {PROGRAM} COMMAND [--flag=value ...]", "", "Commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", f"{PROGRAM} COMMAND --help lists the flags of that command."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    from dcgan_tf.utils.cli import fail

    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2:  # no command: the list, as an error
        sys.stderr.write(help_text())
        sys.exit(2)
    if argv[1] in HELP_TOKENS:
        sys.stdout.write(help_text())
        sys.exit(0)
    if argv[1] == "--version":
        from dcgan_tf import __version__

        print(f"{PROGRAM} {__version__}")
        return
    name = argv[1].replace("_", "-")
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        fail(PROGRAM, f"Unknown command {argv[1]!r}.{hint} Commands: {', '.join(COMMANDS)}.")
    module = importlib.import_module(COMMANDS[name][0])
    module.main([f"{PROGRAM} {name}", *argv[2:]])


if __name__ == "__main__":
    main()
