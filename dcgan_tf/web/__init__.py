"""The web page of dcgan_tf.serve (index.html), shipped as package data."""
