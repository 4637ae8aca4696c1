"""Shared fixtures: the authors' reference vector and small model settings."""
from pathlib import Path

import pytest
import torch

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / 'shared' / 'reference'

# A reduced-width MPRNet small enough for CPU tests: same structure, fewer channels and CABs.
TINY_MPRNET = dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f'reference folder {REFERENCE_DIR} is missing: the tests need ../shared/reference')
    return REFERENCE_DIR


@pytest.fixture(scope='session')
def reference_vector(reference_dir):
    return torch.load(reference_dir / 'mprnet_reference_small.pt', weights_only=True)


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)
    yield
