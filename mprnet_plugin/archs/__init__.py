from mprnet_plugin.archs import mprnet_arch  # noqa: F401
from mprnet_plugin.archs import unet_arch  # noqa: F401
from mprnet_plugin.archs import mprnet_local_arch  # noqa: F401
