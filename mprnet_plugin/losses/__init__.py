from mprnet_plugin.losses import mprnet_loss  # noqa: F401
