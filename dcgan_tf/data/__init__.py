"""Data: sources of images (folders, TFRecords, tfds, arrays, bundled digits) and the
tf.data input pipeline."""
