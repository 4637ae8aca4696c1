"""``python -m mprnet_plugin.test``: the same command as ``mprnet-test`` (``mprnet_plugin.cli.test``)."""
import sys

from mprnet_plugin.cli.test import main

__all__ = ['main']

if __name__ == '__main__':
    sys.exit(main())
