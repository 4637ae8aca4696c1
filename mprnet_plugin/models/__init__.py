"""Registered with BasicSR on import."""
from mprnet_plugin.models import lr_scheduler, mprnet_model, optimizers  # noqa: F401
