"""Importing the package registers everything with BasicSR on today's torchvision."""
import subprocess
import sys
import types

from mprnet_plugin import compat


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
