"""Registered with BasicSR on import."""
from mprnet_plugin.data import dnd_dataset  # noqa: F401  (registers DNDDataset)
