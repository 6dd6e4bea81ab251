import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with float32 policy, a fresh graph and a fixed global seed."""
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """dcgan_tf's cache (classifiers, real-data features) in a folder of this test session,
    and a short-trained digits classifier (2 epochs) for the tests that need one."""
    from dcgan_tf.metrics import classifier

    saved = os.environ.get("DCGAN_TF_CACHE"), classifier.DIGITS_EPOCHS
    os.environ["DCGAN_TF_CACHE"] = str(tmp_path_factory.mktemp("dcgan_tf_cache"))
    classifier.DIGITS_EPOCHS = 2
    yield
    classifier.DIGITS_EPOCHS = saved[1]
    if saved[0] is None:
        os.environ.pop("DCGAN_TF_CACHE", None)
    else:
        os.environ["DCGAN_TF_CACHE"] = saved[0]


# Small widths so that every architecture trains a step in well under a second.
SMALL = {
    "dcgan64": dict(resolution=32, channels=1, ngf=8, ndf=8),
    "mnist28": dict(),
    "faces96": dict(resolution=48, g_depths=(32, 16, 8, 8), d_depths=(8, 8, 16, 16)),
    "pggan": dict(resolution=16, channels=1, fmap_base=64, fmap_max=16),
}


@pytest.fixture
def digits32():
    """Real images: scikit-learn's 8x8 digits, upscaled to 32x32, in [-1, 1], [N, 32, 32, 1]."""
    from dcgan_tf.data.digits import load_digits

    return load_digits(32)[0]


def finite(x) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x))))


def compile_with(gan, d_optimizer, g_optimizer, *, jit_compile="auto", steps_per_execution=1,
                 **config_fields):
    """Compiles `gan` the way the trainer does: Config fields (loss="wgan_gp", d_steps=2,
    label_flip=0.1, ...) resolved into the step's parts by dcgan_tf.gan.assemble."""
    from dcgan_tf.gan.assemble import step_components
    from dcgan_tf.config import Config

    gan.compile(d_optimizer, g_optimizer,
                **step_components(Config(**config_fields), gan.generator, gan.discriminator),
                jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return gan


def run_main(module: str, *args) -> tuple[int, str, str]:
    """Runs `module.main([...])` in this process: (exit code, stdout, stderr)."""
    import contextlib
    import importlib
    import io

    from absl import flags as absl_flags

    absl_flags.FLAGS.unparse_flags()
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            importlib.import_module(module).main([module, *args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    absl_flags.FLAGS.unparse_flags()
    return code, out.getvalue(), err.getvalue()


def run_without_dcgan_tf(script: str, cwd) -> None:
    """Runs `script` in a fresh Python (TensorFlow's start-up lines hidden) and asserts it
    succeeded without ever importing dcgan_tf: what "an export loads anywhere" means."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(script) + (
        "\nimport sys as _sys\n"
        "assert not [k for k in _sys.modules if k.startswith('dcgan_tf')], 'imported dcgan_tf'\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def one_error_line(err: str, program: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{program}: error: ") and "Traceback" not in err
    return lines[0]


def _install_chromium() -> str:
    """Installs Debian's Chromium (what the browser tests drive; Playwright's own browser
    download is not used) with apt-get, as root or through password-less sudo."""
    import shutil
    import subprocess
    import sys

    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and not shutil.which("sudo"):
        pytest.fail("The browser tests need Chromium: run apt-get install chromium as root.")
    print("\n[tests] Chromium is missing; installing Debian's chromium with apt-get ...",
          file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        proc = subprocess.run(prefix + command, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            pytest.fail(f"Could not install Chromium ({' '.join(command)} exited "
                        f"{proc.returncode}: {proc.stderr.strip()[-300:]}).")
    return shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium():
    """Path of a Chromium binary for Playwright: $CHROMIUM, the installed one, or Debian's
    package installed now (so `python -m pytest -q` passes on a fresh machine by itself)."""
    import shutil

    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        path = _install_chromium()
    return path
