"""Compare MPRNet with other registered restorers on the same data: quality, parameters, MACs, latency, memory."""
from mprnet_plugin.tools.compare.options import CompareOptionError, load_compare_options, parse_compare_options
from mprnet_plugin.tools.compare.runner import run_comparison

__all__ = ['CompareOptionError', 'load_compare_options', 'parse_compare_options', 'run_comparison']
