"""Ledger bundles (CSV, XLSX) and graph dumps (JSONL) in and out of a store."""

from grassroots.importers.dump import write_dump
from grassroots.importers.ledger import Outcome, Tally, import_bundle, import_path

__all__ = ["Outcome", "Tally", "import_bundle", "import_path", "write_dump"]
