"""Prepare sidd for training and testing: the same as ``mprnet-prep sidd`` (see --help)."""
import sys

from mprnet_plugin.cli.prep import main

if __name__ == '__main__':
    sys.exit(main(dataset='sidd'))
