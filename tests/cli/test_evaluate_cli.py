"""mprnet-eval: scoring a folder of saved outputs against a folder of targets with a benchmark's metrics."""
import csv

import cv2
import numpy as np
import pytest

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the metrics)
from basicsr.metrics import calculate_metric

from mprnet_plugin.cli.evaluate import EvaluationError, main, run
from mprnet_plugin.io.images import ImageReadError, read_image, write_image
from mprnet_plugin.metrics.benchmarks import BENCHMARK_METRICS


def smooth_image(rng, h=40, w=56):
    img = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.round((img - img.min()) / (img.max() - img.min()) * 230 + 10).astype(np.uint8)


@pytest.fixture
def folders(tmp_path):
    """Three targets (PNG) and their outputs saved with BasicSR's suffix convention, plus float .npy outputs."""
    rng = np.random.default_rng(0)
    targets, outputs, npys = tmp_path / 'gt', tmp_path / 'out', tmp_path / 'npy'
    for i, name in enumerate(['scene183_7', 'scene183_10', 'scene190_2']):
        target = smooth_image(rng, 40 + i, 56)
        noisy = np.clip(target / 255.0 + rng.normal(0, 0.03, target.shape), 0, 1)
        write_image(targets / f'{name}.png', target)
        write_image(outputs / f'{name}_MPRNet.png', np.round(noisy * 255).astype(np.uint8))
        npys.mkdir(exist_ok=True)
        np.save(npys / f'{name}.npy', noisy[..., ::-1].astype(np.float32))  # float32 RGB, as val.save_npy writes
    return targets, outputs, npys


def test_benchmark_metrics_match_direct_calls_and_files_are_written(folders, tmp_path):
    targets, outputs, _ = folders
    row = run(['--output', str(outputs), '--target', str(targets), '--benchmark', 'gopro', '--suffix', '_MPRNet',
                '--paper', 'GoPro', '--save-dir', str(tmp_path / 'report')])
    assert row.num_images == 3 and set(row.metrics) == set(BENCHMARK_METRICS['gopro'])
    for name, values in row.per_image.items():
        data = dict(img=read_image(outputs / f'{name}_MPRNet.png'), img2=read_image(targets / f'{name}.png'))
        for metric, opt in BENCHMARK_METRICS['gopro'].items():
            assert values[metric] == pytest.approx(calculate_metric(data, opt), abs=1e-12)
    assert row.metrics['psnr'] == pytest.approx(np.mean([v['psnr'] for v in row.per_image.values()]))
    assert 25 < row.metrics['psnr'] < 40
    lines = (tmp_path / 'report' / 'summary.csv').read_text().splitlines()
    assert lines[0].startswith('# versions: python')
    assert 'mprnet_plugin 0.2.0' in lines[0] and 'basicsr 1.4.2' in lines[0]
    rows = list(csv.DictReader(lines[1:]))
    assert rows[0]['paper_psnr'] == '32.66' and float(rows[0]['psnr']) == pytest.approx(row.metrics['psnr'])
    markdown = (tmp_path / 'report' / 'summary.md').read_text()
    assert '| set | images | psnr | ssim | ssim_per_channel | paper PSNR | paper SSIM | note |' in markdown
    per_image = list(csv.DictReader((tmp_path / 'report' / 'per_image.csv').read_text().splitlines()))
    assert sorted(r['image'] for r in per_image) == sorted(row.per_image)


def test_npy_outputs_are_scored_unrounded_by_float_metrics(folders, tmp_path):
    targets, outputs, npys = folders
    row = run(['--output', str(npys), '--target', str(targets), '--benchmark', 'sidd', '--metric', 'calculate_psnr',
                '--save-dir', str(tmp_path / 'r')])
    for name, values in row.per_image.items():
        output = np.load(npys / f'{name}.npy')
        target = read_image(targets / f'{name}.png')[..., ::-1] / 255.0
        expected = 10 * np.log10(1 / np.mean((output.astype(np.float64) - target) ** 2))
        assert values['psnr'] == pytest.approx(expected, abs=1e-9)
        # BasicSR's 8-bit PSNR sees the rounded output: close, but not the same number.
        assert values['calculate_psnr'] != pytest.approx(values['psnr'], abs=1e-6)
        assert values['calculate_psnr'] == pytest.approx(values['psnr'], abs=0.05)


@pytest.mark.slow
def test_realblur_metrics_in_parallel_workers(folders, tmp_path):
    targets, outputs, _ = folders
    serial = run(['--output', str(outputs), '--target', str(targets), '--benchmark', 'realblur', '--suffix',
                   '_MPRNet', '--save-dir', str(tmp_path / 'a')])
    parallel = run(['--output', str(outputs), '--target', str(targets), '--benchmark', 'realblur', '--suffix',
                     '_MPRNet', '--workers', '2', '--save-dir', str(tmp_path / 'b')])
    assert parallel.per_image == serial.per_image
    assert 25 < serial.metrics['psnr'] < 45 and 0.5 < serial.metrics['ssim'] <= 1


def test_targets_read_from_a_basicsr_lmdb(folders, tmp_path):
    from mprnet_plugin.data.lmdb_writer import write_lmdb

    targets, outputs, _ = folders
    lmdb_path = tmp_path / 'target.lmdb'
    write_lmdb(lmdb_path, [(p.stem, p) for p in sorted(targets.glob('*.png'))])
    args = ['--output', str(outputs), '--benchmark', 'deraining', '--suffix', '_MPRNet']
    from_lmdb = run(args + ['--target', str(lmdb_path), '--save-dir', str(tmp_path / 'a')])
    from_folder = run(args + ['--target', str(targets), '--save-dir', str(tmp_path / 'b')])
    assert from_lmdb.per_image == from_folder.per_image and from_lmdb.num_images == 3
    with pytest.raises(EvaluationError, match='meta_info'):
        run(args + ['--target', str(tmp_path / 'empty.lmdb')])


def test_bad_folders_and_options_are_named(folders, tmp_path):
    targets, outputs, _ = folders
    with pytest.raises(EvaluationError, match='no output'):  # outputs carry a suffix the command was not told about
        run(['--output', str(outputs), '--target', str(targets), '--benchmark', 'gopro'])
    with pytest.raises(EvaluationError, match='does not exist'):
        run(['--output', str(tmp_path / 'nowhere'), '--target', str(targets), '--benchmark', 'gopro'])
    with pytest.raises(EvaluationError, match='not a registered metric'):
        run(['--output', str(outputs), '--target', str(targets), '--metric', 'calculate_psnr_typo'])
    with pytest.raises(EvaluationError, match='--benchmark or at least one --metric'):
        run(['--output', str(outputs), '--target', str(targets), '--suffix', '_MPRNet'])
    (targets / 'scene183_7.png').write_bytes(b'not a png')
    with pytest.raises(ImageReadError, match='scene183_7.png'):
        run(['--output', str(outputs), '--target', str(targets), '--benchmark', 'gopro', '--suffix', '_MPRNet'])


def test_console_script_exit_codes(folders, tmp_path, capsys):
    targets, outputs, _ = folders
    args = ['--output', str(outputs), '--target', str(targets), '--benchmark', 'gopro', '--save-dir', str(tmp_path)]
    assert main(args + ['--suffix', '_MPRNet']) == 0
    assert main(args + ['--force']) == 1  # no output matches without the suffix (--force: the first run's files)
    assert 'mprnet-eval: error:' in capsys.readouterr().err


def error_lines(captured: str) -> list:
    """The lines of stderr that are not progress bars."""
    return [line for line in captured.replace('\r', '\n').splitlines() if line.startswith('mprnet-eval:')]


def test_a_size_mismatched_or_non_finite_output_is_one_line_naming_the_file(folders, tmp_path, capsys):
    targets, outputs, npys = folders
    write_image(outputs / 'scene190_2_MPRNet.png', np.zeros((20, 20, 3), np.uint8))
    args = ['--target', str(targets), '--benchmark', 'gopro', '--save-dir', str(tmp_path / 'r')]
    assert main(['--output', str(outputs), '--suffix', '_MPRNet'] + args) == 1
    [err] = error_lines(capsys.readouterr().err)
    assert err.startswith('mprnet-eval: error: output ') and 'scene190_2_MPRNet.png' in err
    assert 'is 20 x 20 x 3 but its target is 42 x 56 x 3' in err
    nan = np.load(npys / 'scene183_10.npy')
    nan[2, 3, 1] = np.nan
    np.save(npys / 'scene183_10.npy', nan)
    assert main(['--output', str(npys)] + args) == 1
    [err] = error_lines(capsys.readouterr().err)
    assert 'scene183_10.npy: 1 non-finite (NaN or infinite) values' in err


def test_exit_status_2_for_bad_arguments_and_version(folders, tmp_path, capsys):
    targets, outputs, _ = folders
    assert main(['--output', str(tmp_path / 'nowhere'), '--target', str(targets), '--benchmark', 'gopro']) == 2
    assert "mprnet-eval: error: --output folder" in capsys.readouterr().err
    assert main(['--output', str(outputs), '--target', str(targets), '--metric', 'nope']) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(['--version'])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f'mprnet-eval (mprnet_plugin) {mprnet_plugin.__version__}'
