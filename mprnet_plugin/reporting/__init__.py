"""Test-run reports: per-set metrics records, the summary beside the paper's figures, tables, the DND bundle."""
