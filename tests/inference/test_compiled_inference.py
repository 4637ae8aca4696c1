"""Compiled inference (``inference.compiled``): Restorer(compile=True), mprnet-infer --compile and val.compile equal
eager outputs, compile once for images of several sizes, keep inductor's cache, and fall back to eager on failure.

The tests that really compile are ``slow`` (over 15 minutes each on 2 busy shared cores, when inductor's cache is
cold): ``-m 'not slow'`` leaves them out.
"""
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch._dynamo
import yaml
from tests.helpers.settings import TINY_MPRNET
from torch._dynamo.utils import counters

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
import tests.helpers.miniature_datasets as mini
from mprnet_plugin import Restorer
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.cli.prep import main as prep
from mprnet_plugin.inference import compiled as compiled_module
from mprnet_plugin.inference.compiled import CACHE_VARIABLE, CompiledNetwork, inductor_cache_dir
from mprnet_plugin.inference.tiling import restore
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.test import main as run_test

OPTIONS = Path(__file__).resolve().parents[2] / 'options'
# Padded to 152x160 and 168x144: two shapes in one bucket. The tiny network's smallest batch-1 feature map has
# 16 * H/4 * W/4 values, over the 20,480 at which the CPU convolution changes kernel from 143x143 pixels up.
SIZES = [(150, 157), (165, 141)]
SMALL = (40, 56)  # under the bucket's edge: a second graph
# A cold compile of the tiny network took over 900 s (pytest's limit) on the 2 shared cores of the build machine.
COMPILE_TIMEOUT_S = 3600
# A cold torch.compile of even the tiny network took 9 minutes and more on 2 shared CPU cores: more than the whole
# suite's budget, so the real compiles run only when asked for (MPRNET_TEST_COMPILE=1); the fall-back, cache and
# flag tests above them always run.
real_compile = pytest.mark.skipif(os.environ.get('MPRNET_TEST_COMPILE', '') in ('', '0'),
                                  reason='real torch.compile runs take minutes on a CPU: set MPRNET_TEST_COMPILE=1')


@pytest.fixture(scope='module', autouse=True)
def _one_thread_and_a_cache(tmp_path_factory):
    # One thread: tiny images on a shared 2-core machine. One inductor cache for the module (the tests that compile
    # the same network hit it), not the user's ~/.cache; a TORCHINDUCTOR_CACHE_DIR set for the run is kept, so
    # reruns reuse its compiled kernels.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    saved = os.environ.get(CACHE_VARIABLE)
    os.environ[CACHE_VARIABLE] = saved or str(tmp_path_factory.mktemp('inductor'))
    yield
    torch.set_num_threads(threads)
    if saved is None:
        os.environ.pop(CACHE_VARIABLE, None)
    else:
        os.environ[CACHE_VARIABLE] = saved


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def broken_compile(error: Exception):
    """A ``torch.compile`` whose compiled function fails on its first call, as a compiler error does."""
    def compile_(model, **kwargs):
        def compiled(x):
            raise error
        return compiled
    return compile_


# ------------------------------------------------------------------------------------------------ no compiling
def test_the_inductor_cache_defaults_to_the_user_cache_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    assert inductor_cache_dir() == str(tmp_path / '.cache' / 'mprnet_plugin' / 'inductor')
    assert os.environ[CACHE_VARIABLE] == inductor_cache_dir()  # inductor reads it from there
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / 'mine'))
    assert inductor_cache_dir() == str(tmp_path / 'mine')


def test_a_failing_compiled_call_falls_back_to_eager_once_with_a_warning(net, monkeypatch):
    monkeypatch.setattr(torch, 'compile', broken_compile(RuntimeError('C++ compile error\n' + 'context ' * 500)))
    said, told = [], []
    restorer = Restorer(net, device='cpu', compile=True, notify=said.append)
    x = torch.rand(1, 3, 24, 40)
    assert torch.equal(restorer.restore_tensor(x), Restorer(net, device='cpu').restore_tensor(x))
    assert len(said) == 1 and 'torch.compile failed (RuntimeError: C++ compile error)' in said[0]
    assert 'eager' in said[0] and not restorer.compiled
    restorer.restore_tensor(x)
    assert len(said) == 1  # said once; eager from then on
    CompiledNetwork(net, notify=said.append, inform=told.append)
    assert len(told) == 1 and 'takes a while' in told[0]


def test_torch_compile_itself_failing_falls_back_too(net, monkeypatch):
    def refuse(model, **kwargs):
        raise RuntimeError('this platform has no inductor')
    monkeypatch.setattr(torch, 'compile', refuse)
    said = []
    restorer = Restorer(net, device='cpu', compile=True, notify=said.append)
    assert not restorer.compiled and len(said) == 1 and 'no inductor' in said[0]
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(restorer.restore_tensor(x), Restorer(net, device='cpu').restore_tensor(x))


def test_running_out_of_memory_is_not_a_compile_failure(net, monkeypatch):
    # The compiled network "runs out of memory" above 64 px: the tile fall-back must see it, and keep compiling.
    def compile_(model, **kwargs):
        def compiled(x):
            if max(x.shape[-2:]) > 64:
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")
            return model(x)
        return compiled
    monkeypatch.setattr(torch, 'compile', compile_)
    said = []
    restorer = Restorer(net, device='cpu', compile=True, notify=said.append, fallback_tile=64)
    out = restorer.restore_tensor(torch.rand(1, 3, 72, 80))
    assert out.shape == (1, 3, 72, 80) and restorer.compiled
    assert any('out of memory' in s for s in said) and not any('torch.compile failed' in s for s in said)


def test_mprnet_infer_compile_says_it_takes_a_while_and_falls_back(net, weights, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(torch, 'compile', broken_compile(RuntimeError('backend exploded')))
    img = np.random.default_rng(0).integers(0, 256, (37, 45, 3), dtype=np.uint8)
    write_image(tmp_path / 'in' / 'a.png', img)
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert infer_cli.main(['--weights', str(weights), '--input', str(tmp_path / 'in'), '--output',
                               str(tmp_path / 'out'), '--device', 'cpu', '--compile']) == 0
    assert 'first image takes a while' in caplog.text and 'compiled' in caplog.text
    assert 'torch.compile failed (RuntimeError: backend exploded); restoring in eager mode' in caplog.text
    assert np.array_equal(read_image(tmp_path / 'out' / 'a.png'), Restorer(net, device='cpu')(img, bgr=True))


# ------------------------------------------------------------------------------------------------ the buckets
# Dynamo's guards (which decide recompiling) do not depend on the backend: the eager backend shows them in seconds.
@torch._dynamo.config.patch(error_on_recompile=True)
def test_two_sizes_in_one_bucket_share_one_graph(net):
    compiled = CompiledNetwork(net, backend='eager')
    for size in SIZES:
        x = torch.rand(1, 3, *size)
        with torch.inference_mode():
            difference = (restore(compiled, x) - restore(net, x)).abs().max().item()
        assert difference <= 1e-5, f'{size}: compiled and eager outputs differ by {difference}'
    assert compiled.active and counters['stats']['unique_graphs'] == 1


def test_an_image_under_the_bucket_edge_compiles_a_second_graph_and_a_later_large_size_reuses_the_first(net):
    compiled = CompiledNetwork(net, backend='eager')
    with torch.inference_mode():
        for size in (SIZES[0], SMALL, SIZES[1]):
            restore(compiled, torch.rand(1, 3, *size))
    assert compiled.active and counters['stats']['unique_graphs'] == 2


# ------------------------------------------------------------------------------------------------ compiling
@pytest.mark.slow
@real_compile
@pytest.mark.timeout(COMPILE_TIMEOUT_S)
@torch._dynamo.config.patch(error_on_recompile=True)  # a recompilation raises, and the fall-back says so
def test_compiled_restorer_equals_eager_and_compiles_once_for_two_sizes(net):
    said = []
    restorer = Restorer(net, device='cpu', compile=True, notify=said.append)
    eager = Restorer(net, device='cpu')
    graphs = []
    for size in SIZES:
        x = torch.rand(1, 3, *size)
        difference = (restorer.restore_tensor(x) - eager.restore_tensor(x)).abs().max().item()
        assert difference <= 1e-5, f'{size}: compiled and eager outputs differ by {difference}'
        graphs.append(counters['stats']['unique_graphs'])
    assert said == [] and restorer.compiled
    assert graphs[0] >= 1 and graphs[1] == graphs[0]  # the second size compiled nothing new


@pytest.mark.slow
@real_compile
@pytest.mark.timeout(COMPILE_TIMEOUT_S)
@torch._dynamo.config.patch(error_on_recompile=True)
def test_mprnet_infer_compile_on_a_folder_of_two_sizes(net, weights, tmp_path, caplog):
    rng = np.random.default_rng(1)
    images = {f'{h}x{w}.png': rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES}
    for name, img in images.items():
        write_image(tmp_path / 'in' / name, img)
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert infer_cli.main(['--weights', str(weights), '--input', str(tmp_path / 'in'), '--output',
                               str(tmp_path / 'out'), '--device', 'cpu', '--compile']) == 0
    assert 'first image takes a while' in caplog.text and 'torch.compile failed' not in caplog.text
    eager = Restorer(net, device='cpu')
    for name, img in images.items():
        # 8-bit outputs: a 1e-5 difference may round the other way at a half level.
        diff = np.abs(read_image(tmp_path / 'out' / name).astype(int) - eager(img, bgr=True).astype(int))
        assert diff.max() <= 1, name


@pytest.mark.slow
@real_compile
@pytest.mark.timeout(COMPILE_TIMEOUT_S)
def test_mprnet_test_val_compile_equals_eager(tmp_path, net, monkeypatch):
    src = mini.make_gopro(tmp_path / 'raw')
    assert prep(['gopro', '--src', str(src), '--dst', str(tmp_path / 'datasets' / 'GoPro'), '--workers', '1',
                 '--splits', 'test']) == 0
    torch.save({'params': net.state_dict()}, tmp_path / 'tiny.pth')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', ['mprnet-test'])
    said = []
    monkeypatch.setattr(compiled_module.CompiledNetwork, '_give_up', lambda self, failure: said.append(failure))
    means = {}
    for name, compile_ in (('eager', False), ('compiled', True)):
        opt = yaml.safe_load((OPTIONS / 'test' / 'MPRNet_GoPro.yml').read_text())
        opt['network_g'].update(TINY_MPRNET)
        opt['val']['compile'] = compile_
        opt['name'] = name
        (tmp_path / f'{name}.yml').write_text(yaml.safe_dump(opt, sort_keys=False))
        assert run_test(['-opt', str(tmp_path / f'{name}.yml'), '--force_yml', 'num_gpu=0', 'val:save_img=false',
                         'val:pbar=false', f'path:pretrain_network_g={tmp_path / "tiny.pth"}',
                         'path:param_key_g=params']) == 0
        record = yaml.safe_load((tmp_path / 'results' / name / 'metrics' / 'GoPro.json').read_text())
        means[name] = record['metrics']
    assert said == []
    assert means['compiled'] == pytest.approx(means['eager'], abs=1e-3)
