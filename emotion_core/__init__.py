"""emotion_core: the engine of the emotion dashboard (no Streamlit inside).

Data loading, augmentation, MobileViT, training, evaluation, export, face
detection and the live frame pipeline. TensorFlow is imported lazily by the
modules that need it, so light modules (labels, data, runs) import fast.
"""

from emotion_core.labels import EMOTIONS, NUM_CLASSES

__all__ = ["EMOTIONS", "NUM_CLASSES"]
__version__ = "0.1.0"
