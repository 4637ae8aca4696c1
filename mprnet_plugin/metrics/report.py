"""The old home of the test-run summary, kept so that existing imports work; new code imports the modules below.

``summarize_from_argv`` re-parses ``mprnet-test``'s arguments; launchers should pass their parsed options to
``mprnet_plugin.metrics.summary.summarize_test_run`` instead (this module goes once none calls it).
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any, Dict, Iterable, List, Optional

from mprnet_plugin.metrics.dnd_bundle import bundle_dnd
from mprnet_plugin.metrics.records import read_metric_records
from mprnet_plugin.metrics.scoring import mean_metrics
from mprnet_plugin.metrics.summary import (SummaryError, SummaryRow, average_row, subset_rows, summarize_test_run,
                                           summary_rows)
from mprnet_plugin.metrics.tables import (format_console, format_csv, format_markdown, table_cells, table_columns,
                                          write_summary)
from mprnet_plugin.metrics.versions import VERSION_PACKAGES, library_versions

__all__ = ['SummaryError', 'SummaryRow', 'average_row', 'bundle_dnd', 'format_console', 'format_csv',
           'format_markdown', 'library_versions', 'mean_metrics', 'read_metric_records', 'subset_rows',
           'summarize_from_argv', 'summarize_test_run', 'summary_rows', 'table_cells', 'table_columns',
           'test_options_from_argv', 'write_summary', 'VERSION_PACKAGES']


def test_options_from_argv(argv: Iterable[str], root: Optional[str] = None) -> Dict[str, Any]:
    """BasicSR's parsed test options for the arguments of ``mprnet-test`` (its own parser: ``--force_yml`` and
    ``--debug`` apply as in the run); the process group, if any, is left as it is."""
    from basicsr.utils.options import parse_options

    from mprnet_plugin.compat import normalize_local_rank_argv

    args = normalize_local_rank_argv(list(argv))
    for i, arg in enumerate(args):  # the run already set up distribution; parsing again must not
        if arg == '--launcher' and i + 1 < len(args):
            args[i + 1] = 'none'
        elif arg.startswith('--launcher='):
            args[i] = '--launcher=none'
    saved = sys.argv
    sys.argv = [saved[0]] + args
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its 'Disable distributed.' would be misleading here
            opt, _ = parse_options(root or os.getcwd(), is_train=False)
    finally:
        sys.argv = saved
    return opt


def summarize_from_argv(argv: Iterable[str]) -> Optional[List[SummaryRow]]:
    """The summary step of ``mprnet-test`` from its arguments (rank 0 only); prefer ``summarize_test_run(opt)``."""
    opt = test_options_from_argv(argv)
    if opt['rank'] != 0:
        return None
    return summarize_test_run(opt)
