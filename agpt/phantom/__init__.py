"""The phantom: a synthetic chest X-ray data set written in the real MIMIC-CXR / Chest ImaGenome / MS-CXR formats."""

from agpt.phantom.dicom_writer import FAKE_IDENTIFIER_MARKER, FAKE_INSTITUTION
from agpt.phantom.generate import PHANTOM_VERSION, generate_phantom
from agpt.phantom.plan import PhantomConfig, make_plan

__all__ = ["FAKE_IDENTIFIER_MARKER", "FAKE_INSTITUTION", "PHANTOM_VERSION", "PhantomConfig", "generate_phantom",
           "make_plan"]
