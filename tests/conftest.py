"""Shared fixtures: the authors' reference vector (tests/data) and small model settings."""
from pathlib import Path

import pytest
import torch

# The reference vector and key listings, kept in the repository (tests/data/README.md says what each file is).
REFERENCE_DIR = Path(__file__).resolve().parent / 'data'

# A reduced-width MPRNet small enough for CPU tests: same structure, fewer channels and CABs.
TINY_MPRNET = dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f'reference folder {REFERENCE_DIR} is missing: the tests need tests/data')
    return REFERENCE_DIR


@pytest.fixture(scope='session')
def reference_vector(reference_dir):
    return torch.load(reference_dir / 'mprnet_reference_small.pt', weights_only=True)


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)
    yield
