"""Turns a folder of photos (or a tfds dataset, or an .npz) into sharded TFRecords.

    dcgan-tf build --source=PHOTOS --out=DATA --size=64 --crop=cat_face
    dcgan-tf train --config=cat64 --data=DATA --workdir=runs/cat

Every photo is decoded (EXIF orientation, any mode -> 1 or 3 channels), cropped by the
chosen crop (dcgan_tf.data.crops), resized to each requested size and encoded; decoding,
detection and encoding run on a thread pool (PIL and TensorFlow release the GIL) in input
order, so the same input gives the same records. Files that cannot be used are reported
in metadata.json by reason; the build fails (exit 2) only when nothing usable was found or
when --out holds something else.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import os

# No TensorFlow at import time, so that `--help` answers at once (tests/test_cli.py):
# `records` (TFRecord writing) loads inside build() and summary().
from dcgan_tf.data import crops as crops_lib
from dcgan_tf.data import images as images_lib
from dcgan_tf.data.options import BuildOptions
from dcgan_tf.data.readers import Item, list_items
from dcgan_tf.utils.cli import define_from_dataclass, run_command, values_from_flags
from dcgan_tf.utils.errors import UserError


@dataclasses.dataclass
class Result:
    item: Item
    digest: str | None = None
    crops: list = dataclasses.field(default_factory=list)  # [(index, {size: bytes}, box)]
    reason: str | None = None
    detail: str = ""
    notes: list = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------------- one item


class Processor:
    def __init__(self, opts: BuildOptions, crop: crops_lib.Crop):
        self.opts = opts
        self.crop = crop
        self.decode_channels = 3 if crop.needs_rgb else opts.channels

    def __call__(self, item: Item) -> Result:
        result = Result(item)
        try:
            self._process(item, result)
        except images_lib.BadImage as e:
            result.reason, result.detail = e.reason, e.detail
        except crops_lib.NoRegion as e:
            result.reason = str(e)
        return result

    def _process(self, item: Item, result: Result) -> None:
        opts = self.opts
        if item.array is not None:
            raw = item.array
            if opts.dedup:
                result.digest = hashlib.sha256(
                    repr(raw.shape).encode() + raw.tobytes()).hexdigest()
            from PIL import Image

            pil = Image.fromarray(raw[:, :, 0] if raw.shape[-1] == 1 else raw)
            array = images_lib.to_array(pil, self.decode_channels, opts.background)
        else:
            try:
                with open(item.path, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise images_lib.BadImage("unreadable", e.strerror or str(e)) from None
            if opts.dedup:
                result.digest = hashlib.sha256(data).hexdigest()
            array, result.notes = images_lib.load_image(data, self.decode_channels,
                                                        opts.background)
        regions = self.crop.regions(array, item.key)
        if self.decode_channels != opts.channels:  # detected in colour, stored in gray
            from PIL import Image

            array = images_lib.to_array(Image.fromarray(array), opts.channels)
        biggest = max(opts.sizes)
        too_small = 0
        for index, region in enumerate(regions):
            if region.side < biggest and opts.small == "skip":
                too_small += 1
                continue
            patch = crops_lib.cut(array, region, opts.background)
            encoded = {}
            for size in opts.sizes:
                pixels = images_lib.resize_square(patch, size)
                encoded[size] = images_lib.encode(pixels, opts.format, opts.jpeg_quality)
            box = (region.x, region.y, region.w, region.h)
            result.crops.append((index, encoded, box))
        if not result.crops and too_small:
            what = "image" if self.opts.crop in ("none", "center") else "crop"
            raise images_lib.BadImage(f"smaller than {biggest} px",
                                      f"{what} of {int(min(r.side for r in regions))} px; "
                                      "--small=upscale keeps it")


# ---------------------------------------------------------------------- the build


def ordered_map(fn, items, workers: int):
    """fn over items on a thread pool, results in input order, at most 4*workers in flight."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        window = collections.deque()
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) >= 4 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def build(opts: BuildOptions, progress: bool = True) -> dict:
    """Runs the build; returns the metadata written (raises UserError on fatal input).
    One builder per --out: OUT/build.lock holds the builder's pid and host while it runs
    (the trainer's lock, artifacts.lock.WorkdirLock); a second builder refuses in one
    line instead of deleting the first one's temporary shards."""
    from dcgan_tf.artifacts.lock import WorkdirLock  # TensorFlow: not for `--help`
    from dcgan_tf.data import records

    opts.validate()
    lock = WorkdirLock(opts.out, os.path.join(opts.out, records.BUILD_LOCK), flag="--out",
                       user="builder").acquire()
    try:
        return _build(opts, progress)
    finally:
        lock.release()


def _build(opts: BuildOptions, progress: bool) -> dict:
    from dcgan_tf.data import records

    old_meta = records.check_output(opts.out, opts.identity(), opts.overwrite)
    crop = crops_lib.make_crop(opts.crop, crops_lib.CropOptions(
        size=max(opts.sizes), load_size=opts.load_size, face_margin=opts.face_margin,
        min_face_size=opts.min_face_size, max_faces=opts.max_faces,
        min_confidence=opts.min_confidence, on_no_face=opts.on_no_face,
        detect_max_side=opts.detect_max_side, boxes=opts.boxes,
        source_root=opts.source if os.path.isdir(opts.source) else ""))
    items, label_names, skipped = list_items(opts)
    num_shards = opts.num_shards or records.auto_shards(len(items))
    multi = len(opts.sizes) > 1
    folders = {s: os.path.join(opts.out, str(s)) if multi else opts.out for s in opts.sizes}
    records.clean_temp_leftovers(opts.out)
    created = [f for f in [opts.out, *folders.values()] if not os.path.exists(f)]
    shard_sets = {s: records.ShardSet(folders[s], num_shards) for s in opts.sizes}

    seen: dict[str, str] = {}
    notes: list[dict] = []
    label_counts = collections.Counter()
    sources_written = 0
    bar = None
    if progress and items:  # on stderr, without colour codes; the summary is the result
        from dcgan_tf.utils.progress import Progress

        bar = Progress(len(items), "Building", unit="files")
    processor = Processor(opts, crop)
    workers = opts.workers or os.cpu_count() or 1
    try:
        for done, result in enumerate(ordered_map(processor, items, workers), start=1):
            key = result.item.key
            if result.reason is None and result.digest is not None:
                if result.digest in seen:
                    result.reason, result.detail = "duplicate", f"same bytes as {seen[result.digest]}"
                    result.crops = []
                else:
                    seen[result.digest] = key
            if result.reason is not None:
                skipped.append((key, result.reason, result.detail))
            else:
                sources_written += 1
                for note in result.notes:
                    notes.append({"file": key, "note": note})
                for crop_index, encoded, box in result.crops:
                    for size, data in encoded.items():
                        shape = (size, size, opts.channels)
                        shard_sets[size].write(records.make_example(
                            data, shape, result.item.label, key, crop_index, box))
                    if result.item.label is not None:
                        label_counts[result.item.label] += 1
            if bar is not None:
                bar.update(done, f"{len(skipped)} skipped")
        if bar is not None:
            bar.close()
        written = shard_sets[opts.sizes[0]].written
        if written == 0:
            raise UserError(_nothing_usable(opts, len(items), skipped))
    except BaseException:
        for shard_set in shard_sets.values():
            shard_set.abort()
        for folder in reversed(created):  # folders this build made, now empty again
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
        raise

    by_reason = collections.Counter(reason for _, reason, _ in skipped)
    base = {
        "format": records.FORMAT,
        "source": opts.source,
        "found": len(items) + sum(1 for _, r, _ in skipped if r in _LISTING_REASONS),
        "image_files": len(items),
        "sources_written": sources_written,
        "count": written,
        "channels": opts.channels,
        "encoding": opts.format,
        "label_names": label_names,
        "label_counts": ({label_names[k] if label_names and k < len(label_names) else str(k): v
                          for k, v in sorted(label_counts.items())} if label_names else None),
        "skipped_by_reason": dict(sorted(by_reason.items())),
        "skipped": [{"file": k, "reason": r, **({"detail": d} if d else {})}
                    for k, r, d in skipped],
        "notes": notes,
        "options": opts.identity(),
    }
    # Replace: old files out, new shards renamed in, metadata last (atomically).
    from dcgan_tf.utils.atomic_files import atomic_write_text

    keep = {records.METADATA}
    metas = {}
    for size in opts.sizes:
        meta = dict(base, size=size, height=size, width=size)
        meta["shards"] = shard_sets[size].commit()
        metas[size] = meta
        keep |= {s["file"] for s in meta["shards"]} if not multi else {str(size)}
    if old_meta is not None:
        records.remove_old(opts.out, old_meta, keep)
    for size in opts.sizes:
        if multi:
            records.remove_old(folders[size], records.read_metadata(folders[size]),
                               {records.METADATA} | {s["file"] for s in metas[size]["shards"]})
        atomic_write_text(os.path.join(folders[size], records.METADATA),
                          json.dumps(metas[size], indent=1) + "\n")
    if multi:
        top = dict(base, resolutions=list(opts.sizes),
                   resolution_dirs=[str(s) for s in opts.sizes], shards=[])
        atomic_write_text(os.path.join(opts.out, records.METADATA), json.dumps(top, indent=1) + "\n")
        return top
    return metas[opts.sizes[0]]


_LISTING_REASONS = ("not an image file name", "not in a class subfolder")


def _nothing_usable(opts, num_items, skipped) -> str:
    by_reason = collections.Counter(reason for _, reason, _ in skipped)
    why = ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items())) or "no files"
    hint = (" --small=upscale keeps images smaller than the size (e.g. 28x28 digits at "
            "--size=32)." if any(r.startswith("smaller than") for r in by_reason) else "")
    return (f"Nothing usable in {opts.source!r}: {num_items} image file(s), 0 written "
            f"(skipped: {why}); nothing was written to {opts.out!r}.{hint}")


def summary(meta: dict, out: str) -> str:
    from dcgan_tf.data import records  # TensorFlow (see build)

    sizes = records.built_sizes(meta)
    size_text = ", ".join(f"{s}x{s}" for s in sizes)
    shards = len(meta["shards"]) if meta.get("shards") else "per-size"
    skipped = sum(meta["skipped_by_reason"].values())
    reasons = ", ".join(f"{r} {n}" for r, n in meta["skipped_by_reason"].items())
    text = (f"Found {meta['found']} files: wrote {meta['count']} records "
            f"({size_text}, {meta['channels']} channel(s), {meta['encoding']}, {shards} shard(s)) "
            f"from {meta['sources_written']} sources to {out}; skipped {skipped}")
    return text + (f" ({reasons})." if reasons else ".")


# ---------------------------------------------------------------------- command

FLAG_NAMES = {"sizes": "size"}  # BuildOptions field -> flag, where the flag reads better


def define_build_flags():
    """Flags of `python -m dcgan_tf.data.build`, one per BuildOptions field."""
    return define_from_dataclass(BuildOptions, FLAG_NAMES,
                                 choices={"crops": ", ".join(crops_lib.CROPS.names())})


def options_from_flags(flag_values) -> BuildOptions:
    return BuildOptions(**values_from_flags(BuildOptions, flag_values, FLAG_NAMES))


def main(argv=None):
    def body(flag_values):
        opts = options_from_flags(flag_values)
        meta = build(opts)
        return [summary(meta, opts.out)]

    run_command("dcgan_tf.data.build", define_build_flags, body, argv)


if __name__ == "__main__":
    main()
