from mprnet_plugin.losses import mprnet_loss  # noqa: F401
from mprnet_plugin.losses.stage_outputs import stage_loss_terms, stage_outputs  # noqa: F401
