"""``python -m mprnet_plugin.train``: the same command as ``mprnet-train`` (``mprnet_plugin.cli.train``)."""
import sys

from mprnet_plugin.cli.train import main

__all__ = ['main']

if __name__ == '__main__':
    sys.exit(main())
