"""Fixtures of the schema tests: fresh copies of shipped recipes to break one key at a time."""
import copy
from pathlib import Path
from typing import Any, Dict

import pytest

from mprnet_plugin.config.loader import load_option_file

REPO = Path(__file__).resolve().parents[2]
TRAIN_RECIPE = REPO / 'options' / 'demo' / 'MPRNet_demo_train.yml'
TEST_RECIPE = REPO / 'options' / 'test' / 'MPRNet_GoPro.yml'


def _load(path: Path) -> Dict[str, Any]:
    return copy.deepcopy(load_option_file(str(path)))


@pytest.fixture
def train_opt() -> Dict[str, Any]:
    """The demo's training options (MPRNetModel, MPRNet, LinearWarmupCosineLR), a fresh copy."""
    return _load(TRAIN_RECIPE)


@pytest.fixture
def test_opt() -> Dict[str, Any]:
    """The GoPro test options (MPRNetModel, MPRNet with weights), a fresh copy."""
    return _load(TEST_RECIPE)
