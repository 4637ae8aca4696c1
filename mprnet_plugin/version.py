"""The one version of mprnet_plugin: setup.py, the logs, the metrics records and every ``--version`` read it."""
__version__ = '0.2.0'
