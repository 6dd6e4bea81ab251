"""What a person looks at after (or during) a run: a training-progress animation built from
the sample tiles and a plot of the losses from metrics.jsonl (`python -m dcgan_tf.report`,
and the trainer at the end of a run).

Writes DIR/progress.gif (one frame per saved tile, in step order, "step N" under each; also
progress.mp4 when imageio-ffmpeg is installed: pip install "dcgan_tf[video]") and
DIR/losses.png (D and G loss per step, raw and smoothed, with the discriminator's balance
line, e.g. 2 ln 2 = 1.386 for BCE: the level source 000's analysis expected when neither
network wins).
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from dcgan_tf.artifacts.workdir import Workdir
from dcgan_tf.gan.losses import get_loss
from dcgan_tf.utils.atomic_files import atomic_write_bytes
from dcgan_tf.utils.errors import UserError
from dcgan_tf.utils.tiles import add_caption, encode_gif, text_width


def write_animation(workdir: str, frame_ms: int = 250) -> str:
    """Writes progress.gif (and progress.mp4 if possible); returns the GIF's path."""
    tiles = Workdir(workdir).sample_tiles()
    if not tiles:
        raise UserError(f"{workdir!r} has no sample tiles yet (samples/step_*.png).")
    # "step N" under each frame; all frames as wide as the widest caption needs
    width = text_width(f"step {tiles[-1][0]}") + 4
    frames = [Image.fromarray(add_caption(np.asarray(Image.open(path).convert("RGB")),
                                          f"step {step}", width)) for step, path in tiles]
    path = os.path.join(workdir, "progress.gif")
    atomic_write_bytes(path, encode_gif(frames, frame_ms))
    _maybe_mp4(workdir, frames, frame_ms)
    return path


def _maybe_mp4(workdir, frames, frame_ms) -> str | None:
    """Also writes progress.mp4 (H.264) when imageio-ffmpeg is installed (the `video` extra;
    its wheel ships an ffmpeg binary). Returns its path, or None without it."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    width, height = frames[0].size
    # H.264 in yuv420p needs even sides: pad the tile by one black pixel where odd.
    size = (width + width % 2, height + height % 2)
    tmp = os.path.join(workdir, ".progress.tmp.mp4")
    try:
        writer = imageio_ffmpeg.write_frames(tmp, size, fps=1000.0 / frame_ms,
                                             codec="libx264", pix_fmt_in="rgb24",
                                             pix_fmt_out="yuv420p", macro_block_size=1,
                                             ffmpeg_log_level="error")
        writer.send(None)
        for frame in frames:
            canvas = Image.new("RGB", size)
            canvas.paste(frame, (0, 0))
            writer.send(np.ascontiguousarray(np.asarray(canvas)).tobytes())
        writer.close()
    except (RuntimeError, OSError, ValueError, StopIteration) as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise UserError(f"Could not write progress.mp4 with imageio-ffmpeg ({e}).") from e
    path = os.path.join(workdir, "progress.mp4")
    os.replace(tmp, path)
    return path


def read_metrics(workdir: str) -> list[dict]:
    """Rows of metrics.jsonl; a torn last line (killed mid-write) is skipped."""
    wd = Workdir(workdir)
    if not os.path.isfile(wd.metrics_path):
        raise UserError(f"{workdir!r} has no metrics.jsonl yet.")
    return wd.metrics_rows()


def smooth(values, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard's smoothing)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return np.asarray(out)


def write_loss_plot(workdir: str) -> str:
    """Writes losses.png from metrics.jsonl; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read_metrics(workdir)
            if isinstance(r.get("d_loss"), float) and isinstance(r.get("g_loss"), float)]
    if not rows:
        raise UserError(f"{workdir!r} has no loss values logged yet.")
    loss_name = Workdir(workdir).config().loss
    balance = get_loss(loss_name).balance
    steps = np.array([r["step"] for r in rows])
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for key, color in (("d_loss", "tab:blue"), ("g_loss", "tab:orange")):
        values = np.array([r[key] for r in rows])
        ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(steps, smooth(values), color=color, linewidth=1.8,
                marker="o" if len(steps) <= 10 else None,  # a short run: its few points
                label=f"{key[0].upper()} loss (smoothed)")
    if balance is not None:
        ax.axhline(balance, color="gray", linestyle="--", linewidth=1,
                   label=f"D balance {balance:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{os.path.basename(os.path.abspath(workdir))}: {loss_name} losses")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    path = os.path.join(workdir, "losses.png")
    atomic_write_bytes(path, figure_png(fig))
    return path


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes (laid out tight), the figure closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_report(workdir: str) -> list[str]:
    """Writes progress.gif (+ progress.mp4) and losses.png; returns the paths written.
    Writes what the run has so far (a run without tiles yet still gets its loss plot, and
    the other way round); UserError only when it has neither."""
    written, missing = [], []
    try:
        gif = write_animation(workdir)
        mp4 = os.path.join(workdir, "progress.mp4")
        written += [gif] + ([mp4] if os.path.isfile(mp4) else [])
    except UserError as e:
        missing.append(str(e))
    try:
        written.append(write_loss_plot(workdir))
    except UserError as e:
        missing.append(str(e))
    if not written:
        raise UserError(" ".join(missing))
    return written
