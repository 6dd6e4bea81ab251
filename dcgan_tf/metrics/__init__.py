"""Metrics of generated images: the registry (catalog), the evaluation over real and
generated sets (evaluation), the images going in (inputs), one module per metric's math
(frechet, kid, inception_score, precision_recall, swd, ms_ssim, modes, memorisation) and
the feature extractors (features, classifier)."""
