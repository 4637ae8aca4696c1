"""Prepare gopro for training and testing: the same as ``mprnet-prep gopro`` (see --help)."""
import sys

from mprnet_plugin.cli.prep import main

if __name__ == '__main__':
    sys.exit(main(dataset='gopro'))
