"""Data in and out: the import format (CSV/Parquet per kind), reading and validating files, the importer
that writes them to a store, and the exporters (pandas frames, networkx, neo4j-admin files).
"""

from .export import export_neo4j_admin, to_frames, to_networkx
from .format import COLUMNS, KINDS, NUMERIC, ImportReport, RowError, Touched
from .importer import import_dir, import_frames
from .read import read_file

__all__ = [
    "COLUMNS", "KINDS", "NUMERIC", "ImportReport", "RowError", "Touched", "export_neo4j_admin", "import_dir",
    "import_frames", "read_file", "to_frames", "to_networkx",
]
