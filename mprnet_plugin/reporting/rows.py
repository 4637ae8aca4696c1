"""The rows of a test run's summary table, and the error every reporting step raises."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional


class SummaryError(ValueError):
    """A test run's results or summary options that cannot be summarised."""


@dataclass
class SummaryRow:
    """One line of the summary table: a set, a subset or an average."""

    name: str
    num_images: int
    metrics: Dict[str, float]
    paper: Optional[str] = None
    note: str = ''
    per_image: Dict[str, Dict[str, float]] = field(default_factory=dict, repr=False)
