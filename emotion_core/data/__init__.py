"""Data sets: folders and their decoded cache, image checks, augmentation, training batches, splits."""
