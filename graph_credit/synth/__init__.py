"""Seeded synthetic data in the import format: a plausible city of organisations, people, roles,
records, honours and list entries, generated in chunks so 10^6 organisations fit in memory.
"""

from .generator import SyntheticData, generate, generate_chunks, write_synthetic

__all__ = ["SyntheticData", "generate", "generate_chunks", "write_synthetic"]
