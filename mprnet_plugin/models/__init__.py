"""Registered with BasicSR on import: MPRNetModel (the recipe's schedulers and optimizers live in training/)."""
from mprnet_plugin.models import mprnet_model  # noqa: F401
