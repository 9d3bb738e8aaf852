"""Anatomical synonyms: table I/O and validation, sampling strategies, the OpenAI generator, review."""

from agpt.synonyms.sampling import FREQUENCY_WEIGHTS, STRATEGIES, SynonymSampler
from agpt.synonyms.table import SynonymTable, load_synonym_table

__all__ = ["FREQUENCY_WEIGHTS", "STRATEGIES", "SynonymSampler", "SynonymTable", "load_synonym_table"]
