"""Every shipped BasicSR option file validates: no error, no warning."""
from pathlib import Path

import pytest

from mprnet_plugin.config.loader import load_option_file
from mprnet_plugin.config.basicsr_schema import validate_basicsr_options

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted([*REPO.glob('options/train/*.yml'), *REPO.glob('options/test/*.yml'),
                  *REPO.glob('options/demo/*.yml')])
# yml files under tests/ that are BasicSR option files (they name a model_type).
TEST_OPTION_FILES = sorted(p for p in (REPO / 'tests').rglob('*.yml') if 'model_type:' in p.read_text())


def is_test_file(path: Path) -> bool:
    return path.parent.name == 'test' or path.stem.endswith('_test')


def test_recipes_found():
    assert len(RECIPES) >= 18


@pytest.mark.parametrize('path', RECIPES + TEST_OPTION_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_option_file_validates(path):
    warnings = validate_basicsr_options(load_option_file(str(path)), testing=is_test_file(path), source=str(path))
    assert warnings == []
