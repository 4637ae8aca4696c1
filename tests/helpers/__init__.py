"""Helpers the tests import (``from tests.helpers.settings import TINY_MPRNET``); conftest.py keeps only fixtures."""
