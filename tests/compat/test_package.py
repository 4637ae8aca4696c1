"""Importing the package registers everything with BasicSR on today's torchvision."""
import pytest
import subprocess
import sys
import types

from mprnet_plugin.compat import torchvision_alias as compat


@pytest.mark.slow
def test_import_registers_with_basicsr():
    code = ('import mprnet_plugin; from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY; '
            'assert "MPRNet" in ARCH_REGISTRY; assert {"MPRNetLoss", "EdgeLoss"} <= set(LOSS_REGISTRY._obj_map); '
            'assert "CharbonnierLoss" in LOSS_REGISTRY; print("ok")')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ok'


def test_torchvision_alias_only_when_missing(monkeypatch):
    name = 'torchvision.transforms.functional_tensor'
    real = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, real)
    assert compat.install_torchvision_functional_tensor_alias() is False
    assert sys.modules[name] is real
    monkeypatch.delitem(sys.modules, name)
    import torchvision.transforms.functional as functional
    assert compat.install_torchvision_functional_tensor_alias() is True
    assert sys.modules[name] is functional


@pytest.mark.slow
def test_the_documented_old_module_paths_still_import():
    # 0.1's module paths forward to where the code now lives, with a DeprecationWarning naming the new path.
    code = ('import importlib, warnings\n'
            'import mprnet_plugin\n'
            'from mprnet_plugin.compat.moved_modules import MOVED_MODULES\n'
            'for old, new in MOVED_MODULES.items():\n'
            '    with warnings.catch_warnings(record=True) as seen:\n'
            '        warnings.simplefilter("always")\n'
            '        importlib.import_module(old)\n'
            '    assert any(w.category is DeprecationWarning and new in str(w.message) for w in seen), old\n'
            'import mprnet_plugin.restore as r, mprnet_plugin.inference.tiling as t\n'
            'assert r.restore is t.restore and r.pad_to_multiple is t.pad_to_multiple\n'
            'from mprnet_plugin.checkpoint_fit import fit_checkpoint\n'
            'from mprnet_plugin.checkpoints.fitting import fit_checkpoint as f2\n'
            'assert fit_checkpoint is f2\n'
            'from mprnet_plugin.inference import NonFiniteError, Restorer\n'
            'print("ok")\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'ok'
