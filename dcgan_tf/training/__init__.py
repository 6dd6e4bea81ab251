"""Running a training job: the trainer, its callbacks and tf.distribute."""
