"""DND's submission files from a test run's saved float crops (DND publishes no targets: its server scores them)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mprnet_plugin.data.dnd_submission import write_dnd_submission
from mprnet_plugin.reporting.rows import SummaryError


def bundle_dnd(npy_dir: Path, out_dir: Path) -> int:
    """Write DND's submission files from the saved ``<image>_<crop>.npy`` outputs; returns the number of crops."""
    crops = {p.stem: np.load(p) for p in sorted(Path(npy_dir).glob('*.npy'))}
    if not crops:
        raise SummaryError(f'DND: no saved crops in {str(npy_dir)!r}; the DND option file needs val.save_npy: true')
    write_dnd_submission(crops, out_dir)
    return len(crops)
