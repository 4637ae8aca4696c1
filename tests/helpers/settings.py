"""Shared constants of the tests: where the reference vector lives (tests/data) and a tiny MPRNet's settings."""
from pathlib import Path

# The reference vector and key listings, kept in the repository (tests/data/README.md says what each file is).
REFERENCE_DIR = Path(__file__).resolve().parents[1] / 'data'

# A reduced-width MPRNet small enough for CPU tests: same structure, fewer channels and CABs.
TINY_MPRNET = dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)
