"""Serving a model: model files, export, batch classification, face detectors, the frame pipeline."""
