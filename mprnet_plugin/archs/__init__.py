from mprnet_plugin.archs import mprnet_arch  # noqa: F401
