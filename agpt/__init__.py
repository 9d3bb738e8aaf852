"""agpt: benchmark suite for medical phrase grounding with anatomical grounding pre-training."""

__version__ = "0.1.0"
