"""mprnet-compare: two tiny architectures trained a few iterations give the table, the plot and the crop grid."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
from basicsr.archs import build_network
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img

from tests.helpers.settings import TINY_MPRNET
from mprnet_plugin.checkpoints.reading import load_state_dict_file
from mprnet_plugin.cli.compare import main
from mprnet_plugin.tools.compare import CompareOptionError, load_compare_options
from mprnet_plugin.tools.profiling import count_macs
from mprnet_plugin.inference.tiling import restore

MPRNET = dict(type='MPRNet', **TINY_MPRNET)
UNET = dict(type='PlainUNet', base_channels=8, depth=2, blocks_per_level=1)


def _write_pairs(folder: Path, count: int, h: int, w: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for sub in ('gt', 'lq'):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(count):
        freq = rng.uniform(0.1, 0.4, size=3)
        gt = np.stack([0.5 + 0.4 * np.sin(freq[c] * xx + c) * np.cos(freq[c] * yy) for c in range(3)], -1)
        gt = np.clip(gt * 255 + rng.normal(0, 8, gt.shape), 0, 255).astype(np.uint8)
        lq = cv2.GaussianBlur(gt, (5, 5), 1.2)
        cv2.imwrite(str(folder / 'gt' / f'{i:03d}.png'), gt)
        cv2.imwrite(str(folder / 'lq' / f'{i:03d}.png'), lq)


@pytest.fixture(scope='module')
def pairs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('pairs')
    _write_pairs(root / 'train', 4, 48, 48, seed=1)
    _write_pairs(root / 'val', 2, 44, 36, seed=2)  # not multiples of 8: evaluation must pad and crop back
    return root


def _options(root: Path, out: Path, archs, total_iter: int = 3) -> dict:
    return {
        'name': 'tiny', 'output_dir': str(out), 'device': 'cpu', 'seed': 3,
        'datasets': {
            'train': {'dataroot_gt': str(root / 'train/gt'), 'dataroot_lq': str(root / 'train/lq'), 'gt_size': 32,
                      'batch_size': 2},
            'val': {'dataroot_gt': str(root / 'val/gt'), 'dataroot_lq': str(root / 'val/lq')},
        },
        'train': {'total_iter': total_iter, 'lr': '1e-3', 'log_every': 1},
        'profile': {'input_size': [32, 48], 'repeats': 1, 'warmup': 0},
        'grid': {'images': 2, 'crop_size': 24},
        'architectures': archs,
    }


def _write_yml(path: Path, opt: dict) -> Path:
    path.write_text(yaml.safe_dump(opt), encoding='utf-8')
    return path


def _psnr_of_saved_weights(arch_dir: Path, network: dict, root: Path, multiple: int) -> float:
    net = build_network(network)
    net.load_state_dict(load_state_dict_file(arch_dir / 'net.pth', 'params'), strict=True)
    net.eval()
    values = []
    for name in ('000.png', '001.png'):
        lq = img2tensor(cv2.imread(str(root / 'val/lq' / name)).astype(np.float32) / 255.0)
        gt = cv2.imread(str(root / 'val/gt' / name))
        with torch.no_grad():
            out = restore(net, lq.unsqueeze(0), multiple=multiple)
        values.append(calculate_psnr(tensor2img(out), gt, crop_border=0))
    return float(np.mean(values))


@pytest.mark.slow
def test_compare_two_tiny_architectures(pairs, tmp_path, capsys):
    out = tmp_path / 'out'
    archs = [{'name': 'MPRNet tiny', 'network': MPRNET},
             {'name': 'MPRNet tiny again', 'network': MPRNET},  # same model, same batches: same numbers
             {'name': 'U-Net', 'network': UNET, 'loss': {'type': 'CharbonnierLoss', 'eps': 1e-3}}]
    yml = _write_yml(tmp_path / 'compare.yml', _options(pairs, out, archs))
    assert main(['-opt', str(yml)]) == 0
    printed = capsys.readouterr().out
    assert '| MPRNet tiny | MPRNet |' in printed

    # The table: Markdown and CSV, one row per architecture, in file order.
    md = (out / 'comparison.md').read_text()
    assert md.count('\n| ') == 4 and '| U-Net | PlainUNet |' in md and 'GMACs' in md
    rows = list(csv.DictReader((out / 'comparison.csv').open()))
    assert [r['architecture'] for r in rows] == ['MPRNet tiny', 'MPRNet tiny again', 'U-Net']
    summary = json.loads((out / 'comparison.json').read_text())
    results = summary['architectures']
    by_name = {r['name']: r for r in results}
    val = pairs / 'val'
    input_psnr = np.mean([calculate_psnr(cv2.imread(str(val / 'lq' / n)), cv2.imread(str(val / 'gt' / n)), 0)
                          for n in ('000.png', '001.png')])
    assert summary['inputs']['psnr'] == pytest.approx(input_psnr, abs=1e-6)
    assert f"psnr {summary['inputs']['psnr']:.4f}" in md

    # Numbers are measured, not made up: MACs equal an independent count, PSNR equals scoring the saved weights.
    for name, network in (('MPRNet tiny', MPRNET), ('U-Net', UNET)):
        r = by_name[name]
        assert r['train_iterations'] == 3 and len(r['train_loss_curve']) == 3
        assert r['macs'] == count_macs(build_network(network), (1, 3, 32, 48))
        assert r['parameters'] == sum(p.numel() for p in build_network(network).parameters())
        assert r['latency_s'] > 0 and r['peak_memory_bytes'] > 0
        arch_dir = out / 'archs' / r['slug']
        expected = _psnr_of_saved_weights(arch_dir, network, pairs, r['size_multiple'])
        assert r['metrics']['psnr'] == pytest.approx(expected, abs=1e-6)
        assert 0 < r['metrics']['ssim'] <= 1
        assert float(next(row for row in rows if row['architecture'] == name)['psnr']) == r['metrics']['psnr']
    assert by_name['U-Net']['size_multiple'] == 4 and by_name['MPRNet tiny']['size_multiple'] == 8
    assert by_name['MPRNet tiny again']['metrics'] == by_name['MPRNet tiny']['metrics']
    assert by_name['MPRNet tiny again']['train_loss_curve'] == by_name['MPRNet tiny']['train_loss_curve']

    # The plot and the grid are real PNGs; the grid has a column per architecture plus input and ground truth.
    plot = cv2.imread(str(out / 'tradeoff.png'))
    assert plot is not None and plot.shape[1] > plot.shape[0]
    grid = cv2.imread(str(out / 'crops.png'))
    assert grid is not None and grid.shape[1] > 2 * grid.shape[0]
    crop = cv2.imread(str(out / 'archs' / by_name['U-Net']['slug'] / 'crops' / '00.png'))
    assert crop.shape == (24, 24, 3)

    # A re-run with nothing changed reuses every result; changing only the profile re-uses the trained weights.
    before = (out / 'archs' / by_name['U-Net']['slug'] / 'net.pth').stat().st_mtime_ns
    assert main(['-opt', str(yml), '--only', 'U-Net']) == 0
    rerun = json.loads((out / 'comparison.json').read_text())['architectures'][0]
    assert rerun['fingerprint'] == by_name['U-Net']['fingerprint']
    assert main(['-opt', str(yml), '--only', 'U-Net', '--set', 'profile.input_size=[16,16]']) == 0
    again = json.loads((out / 'comparison.json').read_text())['architectures'][0]
    assert again['metrics'] == by_name['U-Net']['metrics'] and again['macs'] < by_name['U-Net']['macs']
    assert (out / 'archs' / by_name['U-Net']['slug'] / 'net.pth').stat().st_mtime_ns == before


@pytest.mark.slow
def test_pretrained_weights_without_training(pairs, tmp_path):
    network = dict(UNET)
    net = build_network(network)
    weights = tmp_path / 'unet.pth'
    torch.save({'params': net.state_dict()}, weights)  # BasicSR's layout
    archs = [{'name': 'U-Net loaded', 'network': network, 'pretrain_network': str(weights)},
             {'name': 'SwinIR', 'network': {'type': 'SwinIR', 'upscale': 1, 'img_size': 32, 'window_size': 4,
                                            'embed_dim': 12, 'depths': [1], 'num_heads': [2], 'mlp_ratio': 1,
                                            'upsampler': ''}},
             {'name': 'RIDNet', 'network': {'type': 'RIDNet', 'in_channels': 3, 'mid_channels': 16,
                                            'out_channels': 3, 'num_block': 1, 'img_range': 1.0}}]
    opt = _options(pairs, tmp_path / 'out', archs, total_iter=0)
    del opt['datasets']['train']
    opt['grid']['images'] = 1
    yml = _write_yml(tmp_path / 'compare.yml', opt)
    assert main(['-opt', str(yml)]) == 0
    results = {r['name']: r for r in json.loads((tmp_path / 'out' / 'comparison.json').read_text())['architectures']}
    assert set(results) == {'U-Net loaded', 'SwinIR', 'RIDNet'}
    loaded = results['U-Net loaded']
    assert loaded['train_iterations'] == 0
    expected = _psnr_of_saved_weights(tmp_path / 'out' / 'archs' / loaded['slug'], network, pairs, 4)
    assert loaded['metrics']['psnr'] == pytest.approx(expected, abs=1e-6)
    saved = load_state_dict_file(tmp_path / 'out' / 'archs' / loaded['slug'] / 'net.pth', 'params')
    assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize('change, message', [
    (lambda o: o['architectures'][0]['network'].update(type='NoSuchNet'),
     r"architectures\[0\]\.network\.type: 'NoSuchNet' is not in BasicSR's arch registry"),
    (lambda o: o['datasets']['val'].update(dataroot_gt='/no/such/folder'),
     r"datasets\.val\.dataroot_gt: '/no/such/folder' does not exist"),
    (lambda o: o['datasets'].pop('train'), r'datasets\.train is missing'),
    (lambda o: o['architectures'].append(dict(o['architectures'][0])), r'names must be distinct'),
    (lambda o: o['metrics'].update(psnr={'type': 'calculate_nothing'}), r'metrics\.psnr\.type'),
    (lambda o: o['train'].update(lr='fast'), r"train\.lr: expected a number, found 'fast'"),
    (lambda o: o['profile'].update(input_size=[0, 8]), r'profile\.input_size'),
])
def test_bad_options_are_named(pairs, tmp_path, change, message):
    opt = _options(pairs, tmp_path / 'out', [{'name': 'U-Net', 'network': dict(UNET)}])
    opt['metrics'] = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}
    change(opt)
    yml = _write_yml(tmp_path / 'compare.yml', opt)
    with pytest.raises(CompareOptionError, match=message):
        load_compare_options(yml)


def test_cli_reports_bad_options_without_a_traceback(pairs, tmp_path, capsys):
    opt = _options(pairs, tmp_path / 'out', [{'name': 'X', 'network': {'type': 'NoSuchNet'}}])
    assert main(['-opt', str(_write_yml(tmp_path / 'c.yml', opt))]) == 2
    assert 'NoSuchNet' in capsys.readouterr().err
    assert main(['-opt', str(tmp_path / 'missing.yml')]) == 2


def test_iters_override_reaches_every_entry(pairs, tmp_path):
    archs = [{'name': 'U-Net', 'network': dict(UNET), 'total_iter': 50}]
    yml = _write_yml(tmp_path / 'compare.yml', _options(pairs, tmp_path / 'out', archs))
    assert load_compare_options(yml)['architectures'][0]['total_iter'] == 50
    assert load_compare_options(yml, total_iter=2)['architectures'][0]['total_iter'] == 2


@pytest.mark.slow
def test_shipped_comparison_files_parse(tmp_path, monkeypatch):
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)  # the demo file builds its data set relative to the working folder
    small = {'demo_data.max_side': 200, 'demo_data.train_copies': 1, 'demo_data.test_copies': 1}
    opt = load_compare_options(repo / 'options' / 'compare' / 'demo.yml', small)
    assert (tmp_path / 'datasets/demo/train/input.lmdb').is_dir()
    assert [a['network']['type'] for a in opt['architectures']] == ['MPRNet', 'MPRNetLocal', 'SwinIR', 'RIDNet',
                                                                   'PlainUNet']
    gopro = yaml.safe_load((repo / 'options' / 'compare' / 'gopro_restorers.yml').read_text())
    for phase in ('train', 'val'):
        for key in ('dataroot_gt', 'dataroot_lq'):
            gopro['datasets'][phase][key] = str(tmp_path)
    opt = load_compare_options(_write_yml(tmp_path / 'gopro.yml', gopro))
    assert len(opt['architectures']) == 6 and opt['train']['optim_g']['lr'] == 2e-4


@pytest.mark.slow
def test_demo_data_is_built_before_the_comparison(tmp_path):
    root = tmp_path / 'demo'
    opt = {
        'name': 'demo-mini', 'output_dir': str(tmp_path / 'out'), 'device': 'cpu',
        'demo_data': {'root': str(root), 'train_images': ['astronaut'], 'test_images': ['chelsea'],
                      'train_copies': 1, 'test_copies': 1, 'max_side': 40, 'train_crop': None},
        'datasets': {'val': {'dataroot_gt': str(root / 'test/target.lmdb'),
                             'dataroot_lq': str(root / 'test/input.lmdb'), 'io_backend': {'type': 'lmdb'}}},
        'profile': {'input_size': [16, 16], 'repeats': 1},
        'grid': {'images': 1, 'crop_size': 16},
        'architectures': [{'name': 'U-Net', 'network': dict(UNET)}],
    }
    assert main(['-opt', str(_write_yml(tmp_path / 'c.yml', opt))]) == 0
    result = json.loads((tmp_path / 'out' / 'comparison.json').read_text())['architectures'][0]
    assert result['per_image'][0]['image'] == 'chelsea_k01' and result['metrics']['psnr'] > 10


# ------------------------------------------------------------------------------------- a lab's own network
LAB_NET = {'type': 'LabTwoConvNet', 'channels': 4}


@pytest.mark.slow
def test_a_network_registered_by_a_custom_import_is_compared_with_mprnet(pairs, tmp_path):
    import sys

    from basicsr.utils.registry import ARCH_REGISTRY
    if 'tests.helpers.lab_restorers' not in sys.modules:
        assert 'LabTwoConvNet' not in ARCH_REGISTRY  # nothing but custom_imports brings it in
    out = tmp_path / 'out'
    opt = _options(pairs, out, [{'name': 'MPRNet tiny', 'network': MPRNET}, {'name': 'Lab', 'network': LAB_NET}])
    opt['custom_imports'] = ['tests.helpers.lab_restorers']
    # BasicSR's key names, and recipe options the comparison hands to MPRNetModel.
    opt['datasets']['train']['batch_size_per_gpu'] = opt['datasets']['train'].pop('batch_size')
    opt['train'] = {'total_iter': 3, 'log_every': 1, 'optim_g': {'type': 'AdamW', 'lr': 1e-3, 'weight_decay': 0.01},
                    'scheduler': {'type': 'LinearWarmupCosineLR', 'warmup_iter': 1, 'eta_min': 1e-5},
                    'grad_clip': 0.5}
    assert main(['-opt', str(_write_yml(tmp_path / 'compare.yml', opt))]) == 0
    results = {r['name']: r for r in json.loads((out / 'comparison.json').read_text())['architectures']}
    lab = results['Lab']
    assert lab['type'] == 'LabTwoConvNet' and lab['train_iterations'] == 3
    assert lab['parameters'] == sum(p.numel() for p in build_network(LAB_NET).parameters())
    expected = _psnr_of_saved_weights(out / 'archs' / lab['slug'], LAB_NET, pairs, lab['size_multiple'])
    assert lab['metrics']['psnr'] == pytest.approx(expected, abs=1e-6)
    assert '| Lab | LabTwoConvNet |' in (out / 'comparison.md').read_text()
    assert 'AdamW' in (out / 'comparison.md').read_text()


def test_a_custom_import_that_fails_is_one_line_naming_it(pairs, tmp_path, capsys):
    opt = _options(pairs, tmp_path / 'out', [{'name': 'U-Net', 'network': dict(UNET)}])
    opt['custom_imports'] = ['no_such_lab_module']
    assert main(['-opt', str(_write_yml(tmp_path / 'c.yml', opt))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('mprnet-compare: error: ') and "'no_such_lab_module'" in err and len(err.splitlines()) == 1


def _trained_weights(pairs, tmp_path, name, archs, train, loader=None):
    opt = _options(pairs, tmp_path / name, archs)
    opt['train'] = train
    if loader:
        opt['datasets']['train'].update(loader)
    assert main(['-opt', str(_write_yml(tmp_path / f'{name}.yml', opt))]) == 0
    arch_dir = next((tmp_path / name / 'archs').iterdir())
    return load_state_dict_file(arch_dir / 'net.pth', 'params')


@pytest.mark.slow
def test_the_recipe_options_reach_the_training(pairs, tmp_path):
    archs = [{'name': 'U-Net', 'network': dict(UNET)}]
    torch.manual_seed(3)  # the comparison's seed: every architecture starts from this RNG state
    initial = build_network(UNET).state_dict()
    frozen = _trained_weights(pairs, tmp_path, 'frozen', archs, {'total_iter': 2, 'scheduler': None,
                                                                      'optim_g': {'type': 'SGD', 'lr': 0}})
    # optim_g is honoured: an lr of 0 changes no weight.
    assert all(torch.equal(frozen[k], v) for k, v in initial.items())
    adam = {'type': 'Adam', 'lr': 1e-2}
    trained = _trained_weights(pairs, tmp_path, 'adam', archs, {'total_iter': 2, 'optim_g': adam})
    assert not all(torch.equal(trained[k], v) for k, v in initial.items())
    # ema_decay: the evaluated and saved weights are the EMA copy, a blend of the start and the trained weights.
    ema = _trained_weights(pairs, tmp_path, 'ema', archs, {'total_iter': 2, 'ema_decay': 0.5, 'optim_g': adam})
    changed = [k for k in initial if not torch.equal(trained[k], initial[k])]
    assert changed and not any(torch.equal(ema[k], trained[k]) or torch.equal(ema[k], initial[k]) for k in changed)


def test_earlier_key_names_mean_the_same_as_basicsr_names(pairs, tmp_path):
    archs_old = [{'name': 'U-Net', 'network': dict(UNET), 'loss': {'type': 'L1Loss'}}]
    old = _options(pairs, tmp_path / 'o', archs_old)
    old['train'] = {'total_iter': 3, 'lr': '1e-3', 'eta_min': '1e-5', 'betas': [0.8, 0.9], 'loss': {'type': 'MSELoss'}}
    new = _options(pairs, tmp_path / 'o', [{'name': 'U-Net', 'network': dict(UNET),
                                            'train': {'pixel_opt': {'type': 'L1Loss'}}}])
    new['datasets']['train']['batch_size_per_gpu'] = new['datasets']['train'].pop('batch_size')
    new['train'] = {'total_iter': 3, 'optim_g': {'lr': 1e-3, 'betas': [0.8, 0.9]}, 'scheduler': {'eta_min': 1e-5},
                    'pixel_opt': {'type': 'MSELoss'}}
    parsed_old = load_compare_options(_write_yml(tmp_path / 'old.yml', old))
    parsed_new = load_compare_options(_write_yml(tmp_path / 'new.yml', new))
    assert parsed_old['architectures'] == parsed_new['architectures']
    assert parsed_old['train'] == parsed_new['train'] and parsed_old['datasets'] == parsed_new['datasets']
    assert parsed_new['architectures'][0]['train']['pixel_opt'] == {'type': 'L1Loss'}
    assert parsed_new['train']['optim_g'] == {'type': 'Adam', 'lr': 1e-3, 'betas': [0.8, 0.9], 'weight_decay': 0.0}
    both = dict(old, train={'lr': 1e-3, 'optim_g': {'lr': 2e-3}})
    with pytest.raises(CompareOptionError, match=r'lr and optim_g\.lr name the same option'):
        load_compare_options(_write_yml(tmp_path / 'both.yml', both))


def test_set_with_bad_yaml_is_one_line(pairs, tmp_path, capsys):
    yml = _write_yml(tmp_path / 'c.yml', _options(pairs, tmp_path / 'out', [{'name': 'U-Net', 'network': dict(UNET)}]))
    assert main(['-opt', str(yml), '--set', 'profile.input_size=[16, 16']) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mprnet-compare: error: --set 'profile.input_size=[16, 16': the value is not valid YAML")
    assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_training_through_the_recipe_equals_a_plain_adam_loop_on_the_same_batches(pairs, tmp_path):
    """MPRNetModel, driven as train_pipeline drives it, takes exactly the steps of a hand-written loop."""
    import itertools
    import random

    from basicsr.data import build_dataset

    from mprnet_plugin.tools.compare.training import make_train_loader
    from mprnet_plugin.losses.mprnet_loss import MPRNetLoss

    out = tmp_path / 'out'
    opt = _options(pairs, out, [{'name': 'MPRNet tiny', 'network': MPRNET}])
    opt['train'] = {'total_iter': 3, 'optim_g': {'type': 'Adam', 'lr': 1e-3},
                    'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [3], 'restart_weights': [1],
                                  'eta_min': 1e-5}}
    yml = _write_yml(tmp_path / 'compare.yml', opt)
    assert main(['-opt', str(yml)]) == 0
    trained = load_state_dict_file(next((out / 'archs').iterdir()) / 'net.pth', 'params')

    parsed = load_compare_options(yml)
    seed, train_opt = parsed['seed'], parsed['datasets']['train']
    loader = make_train_loader(build_dataset(train_opt), train_opt['batch_size_per_gpu'], 0, seed)
    torch.manual_seed(seed)
    net = build_network(MPRNET)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=3, eta_min=1e-5)
    loss_fn = MPRNetLoss()
    random.seed(seed)
    np.random.seed(seed)
    epochs = (batch for _ in itertools.count() for batch in loader)  # a new shuffle and new crops each epoch
    for batch in itertools.islice(epochs, 3):
        optimizer.zero_grad()
        loss_fn(net(batch['lq']), batch['gt']).backward()
        optimizer.step()
        scheduler.step()
    for key, value in net.state_dict().items():
        torch.testing.assert_close(trained[key], value, msg=key)
    torch.manual_seed(seed)
    start = build_network(MPRNET).state_dict()
    assert not torch.equal(trained['shallow_feat1.0.weight'], start['shallow_feat1.0.weight'])  # trained
