"""Data: any --data as a Source (sources, readers, geometry), the resumable training
stream (stream), and the TFRecord dataset format (records) with its builder (build:
`python -m dcgan_tf.data.build`)."""
