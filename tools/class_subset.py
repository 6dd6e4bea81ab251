"""An .npz of the first N images of one class of a labelled source (a few-hundred-image
stand-in for "photos of one thing", as BUILD_NOTES' cat64 runs use).

    python tools/class_subset.py \
        /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --class_index 0 \
        --limit 622 --out data/fashion_tshirt622.npz

DATA is labelled IDX files (a folder or one file) or an .npz with `labels`, at its own size:
images keep their stored size and channels; the trainer fits them (--preprocess).
"""

import argparse
import sys

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--class_index", type=int, required=True)
    parser.add_argument("--limit", type=int, default=622)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from dcgan_tf.data.idx import holds_idx, load_idx
    from dcgan_tf.data.readers import load_npz
    from dcgan_tf.utils.atomic_files import atomic_write_bytes

    if holds_idx(args.data):
        images, labels, _ = load_idx(args.data)
    elif args.data.endswith(".npz"):
        images, labels = load_npz(args.data)[:2]
    else:
        sys.exit(f"{args.data}: give an IDX folder/file or an .npz with labels.")
    if labels is None:
        sys.exit(f"{args.data} has no labels.")
    keep = np.flatnonzero(np.asarray(labels) == args.class_index)[:args.limit]
    if not len(keep):
        sys.exit(f"{args.data} has no image of class {args.class_index}.")
    picked = np.asarray(images)[keep]
    if picked.ndim == 3:
        picked = picked[..., None]
    import io

    buffer = io.BytesIO()
    np.savez(buffer, images=picked.astype(np.uint8))
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"Wrote {args.out}: {len(picked)} images of class {args.class_index}, "
          f"{picked.shape[1]}x{picked.shape[2]}x{picked.shape[3]}.")


if __name__ == "__main__":
    main()
