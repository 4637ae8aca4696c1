"""``mprnet-train``: the console script for ``python -m mprnet_plugin.train``."""
from mprnet_plugin.train import main

__all__ = ['main']

if __name__ == '__main__':
    main()
