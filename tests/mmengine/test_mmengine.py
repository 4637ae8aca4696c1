"""The MMEngine side: data preprocessor, dataset, model modes, metric, and the real Runner on CPU."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET
from tests.helpers.mmengine_fixtures import GOPRO_CONFIG, blurred_pairs, make_lmdb_data, write_tiny_config

from basicsr.metrics import calculate_psnr, calculate_ssim
from basicsr.models import build_model
from basicsr.utils import tensor2img
from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.checkpoints import build_mprnet_from_checkpoint, read_checkpoint
from mprnet_plugin.data.lmdb_writer import make_paired_lmdb
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.mmengine import (BasicSRMetric, BasicSRPairedDataset, MPRNetRestorer,
                                    RestorationDataPreprocessor)
from mprnet_plugin.mmengine import test as mm_test
from mprnet_plugin.mmengine import train as mm_train
from mprnet_plugin.inference.tiling import restore

TINY_GENERATOR = dict(type='MPRNet', **TINY_MPRNET)


def tiny_restorer(**kwargs) -> MPRNetRestorer:
    return MPRNetRestorer(generator=TINY_GENERATOR, **kwargs).eval()


# ------------------------------------------------------------------------------------------ data preprocessor
def test_preprocessor_stacks_lists_and_scales_integer_images():
    pre = RestorationDataPreprocessor()
    imgs = [torch.randint(0, 256, (3, 8, 16), dtype=torch.uint8) for _ in range(2)]
    gts = [torch.rand(3, 8, 16) for _ in range(2)]
    out = pre(dict(inputs=imgs, data_samples=[dict(gt=g, img_name=f'a{i}') for i, g in enumerate(gts)]))
    assert out['inputs'].shape == (2, 3, 8, 16) and out['inputs'].dtype == torch.float32
    torch.testing.assert_close(out['inputs'], torch.stack(imgs).float() / 255)
    assert [s['img_name'] for s in out['data_samples']] == ['a0', 'a1']
    torch.testing.assert_close(out['data_samples'][1]['gt'], gts[1])  # float images are already in [0, 1]


def test_preprocessor_takes_default_collate_batches_and_names_size_mismatches():
    pre = RestorationDataPreprocessor()
    batch = dict(inputs=torch.rand(2, 3, 8, 8), data_samples=dict(gt=torch.rand(2, 3, 8, 8), img_name=['x', 'y']))
    out = pre(batch)
    assert len(out['data_samples']) == 2 and out['data_samples'][1]['img_name'] == 'y'
    torch.testing.assert_close(out['data_samples'][0]['gt'], batch['data_samples']['gt'][0])
    with pytest.raises(ValueError, match='different shapes.*batch_size=1'):
        pre(dict(inputs=[torch.rand(3, 8, 8), torch.rand(3, 16, 8)]))


# ------------------------------------------------------------------------------------------ dataset
def test_dataset_reads_lmdb_and_folders_alike(tmp_path):
    pairs = blurred_pairs(2, 36, 44, seed=3)
    make_paired_lmdb(pairs, tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')
    for key, lq, gt in pairs:
        write_image(tmp_path / 'in' / f'{key}.png', lq)
        write_image(tmp_path / 'gt' / f'{key}.png', gt)
    from_lmdb = BasicSRPairedDataset(str(tmp_path / 'in.lmdb'), str(tmp_path / 'gt.lmdb'), phase='val')
    from_folder = BasicSRPairedDataset(str(tmp_path / 'in'), str(tmp_path / 'gt'), phase='val')
    assert len(from_lmdb) == len(from_folder) == 2
    for i, (key, lq, gt) in enumerate(pairs):
        a, b = from_lmdb[i], from_folder[i]
        assert a['data_samples']['img_name'] == b['data_samples']['img_name'] == key
        torch.testing.assert_close(a['inputs'], b['inputs'])
        torch.testing.assert_close(a['data_samples']['gt'], b['data_samples']['gt'])
        # CHW RGB in [0, 1] of the BGR image that was written.
        expected = torch.from_numpy(gt[..., ::-1].transpose(2, 0, 1).copy()).float() / 255
        torch.testing.assert_close(a['data_samples']['gt'], expected)


def test_dataset_training_gives_the_eight_flip_rotation_variants(tmp_path):
    # Input and target are the same image and the crop covers it whole, so every sample is a flip/rotation of it.
    _, _, img = blurred_pairs(1, 40, 40, seed=4)[0]
    make_paired_lmdb([('only', img, img)], tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')
    ds = BasicSRPairedDataset(str(tmp_path / 'in.lmdb'), str(tmp_path / 'gt.lmdb'), phase='train', gt_size=40)
    base = torch.from_numpy(img[..., ::-1].transpose(2, 0, 1).copy()).float() / 255
    variants = [torch.rot90(t, k, (1, 2)) for t in (base, base.flip(2)) for k in range(4)]
    seen = set()
    for _ in range(80):
        sample = ds[0]
        assert torch.equal(sample['inputs'], sample['data_samples']['gt'])  # the same crop and transform for both
        seen.add(next(i for i, v in enumerate(variants) if torch.allclose(v, sample['inputs'])))
    assert seen == set(range(8))


def test_dataset_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='dataroot_lq'):
        BasicSRPairedDataset(str(tmp_path / 'missing'), str(tmp_path), phase='val')
    with pytest.raises(ValueError, match='gt_size'):
        BasicSRPairedDataset(str(tmp_path), str(tmp_path), phase='train')
    with pytest.raises(ValueError, match='both'):
        BasicSRPairedDataset(str(tmp_path), str(tmp_path / 'x.lmdb'), phase='val')


# ------------------------------------------------------------------------------------------ model
@pytest.mark.slow
def test_model_tensor_loss_and_predict_modes():
    model = tiny_restorer()
    x, gt = torch.rand(2, 3, 36, 44), torch.rand(2, 3, 36, 44)
    samples = [dict(gt=gt[i], img_name=f'im{i}') for i in range(2)]
    with pytest.raises(ValueError, match='multiples of 8'):
        model(x, mode='tensor')
    raw = model(x[..., :32, :40], mode='tensor')
    assert len(raw) == 3 and all(o.shape == (2, 3, 32, 40) for o in raw)

    losses = model(x[..., :32, :40], [dict(gt=gt[i, :, :32, :40]) for i in range(2)], mode='loss')
    assert sorted(losses) == sorted(f'loss_{kind}_{i}' for kind in ('char', 'edge') for i in range(3))
    expected = model.loss.terms(raw, gt[..., :32, :40])
    torch.testing.assert_close(losses['loss_char_2'], expected['l_char_2'])
    torch.testing.assert_close(sum(losses.values()), model.loss(raw, gt[..., :32, :40]))

    preds = model(x, samples, mode='predict')
    assert [p['img_name'] for p in preds] == ['im0', 'im1']
    torch.testing.assert_close(torch.stack([p['pred'] for p in preds]), restore(model.generator, x).clamp(0, 1))
    tiled = tiny_restorer(tile=24, tile_overlap=8)
    tiled.generator.load_state_dict(model.generator.state_dict())
    preds = tiled(x, samples, mode='predict')
    torch.testing.assert_close(preds[0]['pred'], restore(model.generator, x, tile=24, overlap=8)[0].clamp(0, 1))
    with pytest.raises(ValueError, match='"gt"'):
        model(x[..., :32, :40], mode='loss')


@pytest.mark.slow
def test_model_starts_from_an_authors_checkpoint(tmp_path):
    net = MPRNet(**TINY_MPRNET)
    torch.save({'state_dict': {f'module.{k}': v for k, v in net.state_dict().items()}, 'epoch': 3},
               tmp_path / 'authors.pth')
    model = tiny_restorer(pretrained=str(tmp_path / 'authors.pth'))
    for k, v in net.state_dict().items():
        torch.testing.assert_close(model.generator.state_dict()[k], v)


def test_identity_init_starts_every_stage_at_its_input():
    model = tiny_restorer(identity_init=True)
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        for out in model(x, mode='tensor'):
            torch.testing.assert_close(out, x)


# ------------------------------------------------------------------------------------------ metric
def test_metric_calls_the_registered_metric_functions():
    metric = BasicSRMetric(dict(psnr=dict(type='calculate_psnr', crop_border=0, test_y_channel=False),
                                ssim_y=dict(type='calculate_ssim', crop_border=2, test_y_channel=True)))
    pred, gt = torch.rand(3, 24, 20), torch.rand(3, 24, 20)
    metric.process({}, [dict(pred=pred, gt=gt, img_name='a'), dict(pred=gt, gt=gt, img_name='b')])
    result = metric.evaluate(2)
    img, img2 = tensor2img(pred), tensor2img(gt)
    assert result['psnr'] == pytest.approx((calculate_psnr(img, img2, 0) + float('inf')) / 2)
    expected_ssim = (calculate_ssim(img, img2, 2, test_y_channel=True) + 1.0) / 2
    assert result['ssim_y'] == pytest.approx(expected_ssim)


def test_metric_float_input_and_clear_errors():
    metric = BasicSRMetric(dict(psnr=dict(type='calculate_psnr_sidd_float', input='float32')))
    pred, gt = torch.full((3, 8, 8), 0.5), torch.full((3, 8, 8), 0.501)
    metric.process({}, [dict(pred=pred, gt=gt)])
    assert metric.evaluate(1)['psnr'] == pytest.approx(10 * np.log10(1 / 0.001 ** 2), abs=1e-2)  # not rounded to 8 bits
    with pytest.raises(KeyError, match='not_a_metric.*METRIC_REGISTRY'):
        BasicSRMetric(dict(x=dict(type='not_a_metric')))
    with pytest.raises(ValueError, match='input'):
        BasicSRMetric(dict(x=dict(type='calculate_psnr', input='uint16')))


def test_metric_input_key_must_agree_with_the_one_rule():
    # Without an input key the float metric still sees unrounded images: the rule is the metric's, not the config's.
    pred, gt = torch.full((3, 8, 8), 0.5), torch.full((3, 8, 8), 0.501)
    metric = BasicSRMetric(dict(psnr=dict(type='calculate_psnr_sidd_float')))
    metric.process({}, [dict(pred=pred, gt=gt)])
    assert metric.evaluate(1)['psnr'] == pytest.approx(10 * np.log10(1 / 0.001 ** 2), abs=1e-2)
    with pytest.raises(ValueError, match=r"calculate_psnr\) scores 8-bit images, but input='float32'"):
        BasicSRMetric(dict(x=dict(type='calculate_psnr', crop_border=0, input='float32')))
    pred[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match="sample 'a'.*1 non-finite"):
        metric.process({}, [dict(pred=pred, gt=gt, img_name='a')])


# ------------------------------------------------------------------------------------------ the Runner
@pytest.fixture(scope='module')
def lmdb_data(tmp_path_factory):
    return make_lmdb_data(tmp_path_factory.mktemp('mmengine_data'))


@pytest.fixture(scope='module')
def trained(tmp_path_factory, lmdb_data):
    """4 iterations of training with validation every 2, by the real Runner, through the train launcher."""
    root = tmp_path_factory.mktemp('mmengine_run')
    config = write_tiny_config(root / 'tiny.py', lmdb_data, root / 'work', max_iters=4, interval=2)
    mm_train.train([str(config)])
    return config, root / 'work'


def scalars(work_dir: Path) -> list:
    """Every row MMEngine logged to vis_data/scalars.json, across runs."""
    rows = []
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


@pytest.mark.slow
def test_runner_trains_validates_and_saves_checkpoints_the_plugin_reads(trained):
    config, work_dir = trained
    assert (work_dir / 'iter_2.pth').is_file() and (work_dir / 'iter_4.pth').is_file()
    rows = scalars(work_dir)
    train_losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(train_losses) == 4 and all(np.isfinite(train_losses))
    assert all(f'loss_edge_{i}' in rows[0] for i in range(3))
    val_rows = [r for r in rows if 'psnr' in r]
    assert [r['step'] for r in val_rows] == [2, 4] and all(0 < r['ssim'] <= 1 for r in val_rows)
    # The same loader mprnet-infer and the BasicSR side use: only generator.* keys, prefix stripped, strict fit.
    net = build_mprnet_from_checkpoint(work_dir / 'iter_4.pth')
    assert net.config['n_feat'] == TINY_MPRNET['n_feat']
    assert all(k.startswith('generator.') for k in read_checkpoint(work_dir / 'iter_4.pth')['state_dict'])


@pytest.mark.slow
def test_runner_resumes_from_the_saved_checkpoint(trained):
    config, work_dir = trained
    before = read_checkpoint(work_dir / 'iter_4.pth')
    mm_train.train([str(config), '--resume', '--cfg-options', 'train_cfg.max_iters=6'])
    after = read_checkpoint(work_dir / 'iter_6.pth')
    assert after['meta']['iter'] == 6
    # The optimizer state went on from iteration 4: Adam's step counter reached 6, not 2.
    steps = {float(s['step']) for s in after['optimizer']['state'].values()}
    assert steps == {6.0}
    assert {float(s['step']) for s in before['optimizer']['state'].values()} == {4.0}
    assert [r['step'] for r in scalars(work_dir) if 'loss' in r][-2:] == [5, 6]
    # The resume admitted MMEngine's pickled types for its one load only.
    assert getattr not in torch.serialization.get_safe_globals()


@pytest.mark.slow
def test_load_from_reads_safetensors_and_refuses_getattr(tmp_path, trained):
    from mmengine.config import Config
    from tests.checkpoints.test_checkpoint import NeedsGetattr

    from mprnet_plugin.checkpoints import CheckpointError
    from mprnet_plugin.checkpoints.conversion import convert_checkpoint
    from mprnet_plugin.mmengine.launch import build_runner

    config, work_dir = trained
    weights = tmp_path / 'iter_4.safetensors'
    convert_checkpoint(work_dir / 'iter_4.pth', weights)
    cfg = Config.fromfile(str(config))
    cfg.work_dir, cfg.launcher, cfg.load_from = str(tmp_path / 'work'), 'none', str(weights)
    runner = build_runner(cfg)
    runner.load_or_resume()  # what runner.train() and runner.test() call first: MMEngine's load_from
    expected = read_checkpoint(work_dir / 'iter_4.pth')['state_dict']
    for key, value in runner.model.generator.state_dict().items():
        assert torch.equal(value, expected[f'generator.{key}']), key
    crafted = tmp_path / 'crafted.pth'
    torch.save({'state_dict': dict(expected), 'extra': NeedsGetattr()}, crafted)
    runner._has_loaded, runner._load_from = False, str(crafted)
    with pytest.raises(CheckpointError, match='refused.*getattr'):
        runner.load_or_resume()
    del runner


@pytest.mark.slow
def test_test_launcher_with_an_authors_checkpoint(tmp_path, trained, lmdb_data):
    config, _ = trained
    net = MPRNet(**TINY_MPRNET).eval()
    with torch.no_grad():  # move the weights away from the defaults so a failed load shows
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ckpt = tmp_path / 'model_deblurring.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in net.state_dict().items()}}, ckpt)
    out_dir = tmp_path / 'restored'
    metrics = mm_test.run_test([str(config), '--checkpoint', str(ckpt), '--work-dir', str(tmp_path / 'work'),
                            '--out-dir', str(out_dir)])

    # The same numbers computed by hand from the same weights and LMDB images.
    ds = BasicSRPairedDataset(lmdb_data['val_input'], lmdb_data['val_target'], phase='val')
    psnrs, ssims = [], []
    for i in range(len(ds)):
        sample = ds[i]
        with torch.no_grad():
            pred = restore(net, sample['inputs'][None])[0].clamp(0, 1)
        img, img2 = tensor2img(pred), tensor2img(sample['data_samples']['gt'])
        psnrs.append(calculate_psnr(img, img2, 0))
        ssims.append(calculate_ssim(img, img2, 0))
        saved = read_image(out_dir / f"{sample['data_samples']['img_name']}.png")
        assert saved.shape == (36, 44, 3) and np.array_equal(saved, img)
    assert metrics['psnr'] == pytest.approx(np.mean(psnrs), rel=1e-6)
    assert metrics['ssim'] == pytest.approx(np.mean(ssims), rel=1e-6)
    report = json.loads((tmp_path / 'work' / 'test_metrics.json').read_text())
    assert report['metrics']['psnr'] == pytest.approx(metrics['psnr'])


@pytest.mark.slow
def test_mprnet_infer_restores_like_the_mmengine_test_from_an_mmengine_checkpoint(tmp_path, trained):
    from mprnet_plugin.cli import infer

    config, work_dir = trained
    ckpt = str(work_dir / 'iter_4.pth')
    for key, blurred, _ in blurred_pairs(2, 36, 44, seed=2):  # the validation inputs of make_lmdb_data
        write_image(tmp_path / 'inputs' / f'{key}.png', blurred)
    mm_test.run_test([str(config), '--checkpoint', ckpt, '--work-dir', str(tmp_path / 'work'),
                  '--out-dir', str(tmp_path / 'mmengine')])
    assert infer.main(['--weights', ckpt, '--input', str(tmp_path / 'inputs'), '--output', str(tmp_path / 'infer'),
                       '--device', 'cpu']) == 0
    for key in ('img000', 'img001'):
        a = read_image(tmp_path / 'mmengine' / f'{key}.png').astype(int)
        b = read_image(tmp_path / 'infer' / f'{key}.png').astype(int)
        assert a.shape == b.shape == (36, 44, 3) and np.abs(a - b).max() <= 1  # rounding of exact halves may differ


@pytest.mark.slow
def test_test_launcher_rejects_a_missing_checkpoint(trained, tmp_path):
    with pytest.raises(ValueError, match='--checkpoint'):
        mm_test.run_test([str(trained[0]), '--checkpoint', str(tmp_path / 'nope.pth')])


@pytest.mark.slow
def test_test_launcher_writes_into_a_users_folder_only_with_force(trained, tmp_path, capsys):
    config, work_dir = trained
    mine = tmp_path / 'mine'
    mine.mkdir()
    (mine / 'notes.txt').write_text('keep me')
    args = [str(config), '--checkpoint', str(work_dir / 'iter_4.pth'), '--work-dir', str(tmp_path / 'work'),
            '--out-dir', str(mine)]
    assert mm_test.main(args) == 2
    err = capsys.readouterr().err
    assert '--out-dir' in err and 'pass --force' in err and 'Traceback' not in err
    assert sorted(p.name for p in mine.iterdir()) == ['notes.txt'] and not (tmp_path / 'work').exists()
    assert mm_test.main(args + ['--force']) == 0
    assert (mine / 'notes.txt').read_text() == 'keep me' and len(list(mine.glob('*.png'))) >= 1


@pytest.mark.slow
def test_basicsr_model_and_mmengine_model_give_the_same_outputs(trained):
    _, work_dir = trained
    ckpt = str(work_dir / 'iter_4.pth')
    opt = dict(model_type='MPRNetModel', name='same_weights', is_train=False, dist=False, num_gpu=0, rank=0,
               world_size=1, network_g=dict(TINY_GENERATOR),
               path=dict(pretrain_network_g=ckpt, param_key_g='state_dict', strict_load_g=True),
               val=dict(tile=dict(size=24, overlap=8)))
    basicsr_model = build_model(opt)
    mm_model = tiny_restorer(pretrained=ckpt, tile=24, tile_overlap=8)
    x = torch.rand(1, 3, 36, 44)
    basicsr_model.feed_data(dict(lq=x))
    basicsr_model.test()
    pred = mm_model(x, mode='predict')[0]['pred']
    torch.testing.assert_close(pred, basicsr_model.output[0].clamp(0, 1), rtol=0, atol=1e-6)
    # And untiled, through each side's own network forward.
    mm_model.tile = None
    with torch.no_grad():
        raw = mm_model(x[..., :32, :40], mode='tensor')
        ref = basicsr_model.net_g(x[..., :32, :40])
    for a, b in zip(raw, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------ configs and options
def test_gopro_recipe_is_the_authors_schedule_and_builds():
    from mmengine.config import Config
    from mmengine.registry import DATASETS, METRICS, MODELS

    cfg = Config.fromfile(str(GOPRO_CONFIG))
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 400_000
    assert cfg.optim_wrapper.optimizer == dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 400)
    assert (cosine.type, cosine.begin, cosine.end, cosine.eta_min) == ('CosineAnnealingLR', 400, 400_000, 1e-6)
    assert cosine.T_max == 400_000 - 400
    assert cfg.train_dataloader.dataset.gt_size == 256 and cfg.train_dataloader.batch_size * 4 == 16
    hooks = cfg.default_hooks
    assert hooks.checkpoint.type == 'CheckpointHook' and hooks.logger.type == 'LoggerHook'
    # Every type the recipe names is registered once the plugin is imported.
    model = MODELS.build(cfg.model)
    assert model.generator.config['n_feat'] == 96 and type(model.loss).__name__ == 'MPRNetLoss'
    assert METRICS.get(cfg.val_evaluator.type) is BasicSRMetric
    assert DATASETS.get(cfg.train_dataloader.dataset.type) is BasicSRPairedDataset


def test_cpu_distributed_start_needs_the_launchers_environment(monkeypatch):
    import torch.distributed as dist

    from mprnet_plugin.compat.mmengine import init_mmengine_cpu_distributed

    if torch.cuda.is_available():
        pytest.skip('on CUDA machines MMEngine starts the process group itself')
    assert not dist.is_initialized()
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    assert init_mmengine_cpu_distributed('none') is False
    with pytest.raises(RuntimeError, match='RANK.*torchrun'):
        init_mmengine_cpu_distributed('pytorch')
    with pytest.raises(ValueError, match='mpi'):
        init_mmengine_cpu_distributed('mpi')


@pytest.mark.slow
def test_amp_fp16_option_says_it_needs_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this checks the message shown on machines without CUDA')
    with pytest.raises(ValueError, match='--amp fp16 needs a CUDA device'):
        mm_train.train([str(GOPRO_CONFIG), '--amp', 'fp16', '--work-dir', str(tmp_path)])


def test_metric_reaches_the_plugins_realblur_aligned_metrics():
    from basicsr.metrics import calculate_metric

    _, _, sharp = blurred_pairs(1, 64, 64, seed=5)[0]
    shifted = np.roll(sharp, 1, axis=1)  # a one-pixel misalignment, which RealBlur's protocol aligns away
    to_tensor = lambda bgr: torch.from_numpy(bgr[..., ::-1].transpose(2, 0, 1).copy()).float() / 255  # noqa: E731
    opts = dict(psnr=dict(type='calculate_psnr', crop_border=0), psnr_aligned=dict(type='calculate_psnr_realblur'),
                ssim_aligned=dict(type='calculate_ssim_realblur'))
    metric = BasicSRMetric(opts)
    metric.process({}, [dict(pred=to_tensor(shifted), gt=to_tensor(sharp), img_name='x')])
    result = metric.evaluate(1)
    for name, opt in opts.items():
        assert result[name] == pytest.approx(calculate_metric(dict(img=shifted, img2=sharp), opt), rel=1e-6)
    assert result['psnr_aligned'] > result['psnr'] + 5


@pytest.mark.slow
def test_demo_config_trains_on_the_demo_set_layout(tmp_path, monkeypatch):
    from mprnet_plugin.data.demo_data import build_demo_dataset

    monkeypatch.chdir(tmp_path)  # the demo config reads demo_output/data relative to the working directory
    build_demo_dataset('demo_output/data', train_images=('coffee',), test_images=('rocket',), train_copies=1,
                       test_copies=1, max_side=256)
    config = GOPRO_CONFIG.parent / 'mprnet_demo.py'
    mm_train.train([str(config), '--cfg-options', 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
                   'train_dataloader.batch_size=1', 'train_dataloader.num_workers=0',
                   'train_dataloader.persistent_workers=False'])
    work_dir = tmp_path / 'demo_output' / 'mmengine'
    assert build_mprnet_from_checkpoint(work_dir / 'iter_1.pth').config['n_feat'] == 16
    assert [r['step'] for r in scalars(work_dir) if 'psnr' in r] == [1]
