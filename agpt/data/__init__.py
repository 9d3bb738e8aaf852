"""Readers for MIMIC-CXR, Chest ImaGenome and MS-CXR, the prepared manifests, and the image cache."""
