"""Shared fixtures: the authors' reference vector (tests/data). Plain helpers live in tests/helpers."""
from pathlib import Path

import pytest
import torch

from tests.helpers.settings import REFERENCE_DIR


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


@pytest.fixture(scope='module')
def single_torch_thread():
    """One torch thread for a module of tiny-image tests: on a shared 2-core machine the pool only adds contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
