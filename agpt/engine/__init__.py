"""Training, evaluation and inference engine: configs, datasets, augmentation, loop, checkpoints."""
