"""Evaluation metrics of generated images (the evaluation issue adds FID/KID and others)."""
