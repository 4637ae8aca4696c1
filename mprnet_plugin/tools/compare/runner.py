"""Run a comparison: for each architecture train (or load), evaluate and profile it, then write the report.

Every architecture's weights and results are saved under ``<output_dir>/archs/<name>/`` with a fingerprint of the
options that produced them; a re-run reuses whatever is still up to date and redoes only what changed.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import platform
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from basicsr.archs import build_network
from basicsr.data import build_dataset

from mprnet_plugin.checkpoints import load_mprnet_checkpoint, read_checkpoint
from mprnet_plugin.tools.compare.evaluation import evaluate_network, reference_crops
from mprnet_plugin.tools.compare.options import CompareOptionError
from mprnet_plugin.tools.compare.report import plot_crop_grid, plot_tradeoff, write_tables
from mprnet_plugin.runtime.devices import resolve_device
from mprnet_plugin.runtime.precision import check_inference_precision
from mprnet_plugin.tools.compare.training import TrainStats, make_train_loader, train_architecture
from mprnet_plugin.io.atomic import OutputConflictError, atomic_output, atomic_write_text, claim_output_folder
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.tools.profiling import profile_model
from mprnet_plugin.archs.descriptor import network_size_multiple

logger = logging.getLogger('mprnet_plugin.tools.compare')

RESULT_FILE, WEIGHTS_FILE = 'result.json', 'net.pth'


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able option values."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode('utf-8')).hexdigest()[:16]


def _train_fingerprint(opt: Dict[str, Any], arch: Dict[str, Any]) -> str:
    trains = arch['total_iter'] > 0
    train = {k: v for k, v in arch['train'].items() if k != 'log_every'} if trains else None
    data = opt['datasets'].get('train') if trains else None
    return fingerprint({k: arch[k] for k in ('network', 'path', 'total_iter')}, train, data, opt['seed'],
                       opt.get('demo_data'))


def _eval_fingerprint(opt: Dict[str, Any], arch: Dict[str, Any], device: torch.device, train_fp: str) -> str:
    # fp32 (the default) leaves the fingerprint as it was before evaluation.precision, so old results stay valid.
    evaluation = {k: v for k, v in opt['evaluation'].items() if not (k == 'precision' and v == 'fp32')}
    return fingerprint(train_fp, arch['size_multiple'], opt['datasets']['val'], opt.get('demo_data'), opt['metrics'],
                       evaluation,
                       opt['profile'], opt['grid'], str(device), torch.get_num_threads())


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _trained_network(opt: Dict[str, Any], arch: Dict[str, Any], device: torch.device, arch_dir: Path,
                     train_loader: Optional[Any], train_fp: str) -> tuple:
    """Build the network and give it weights: saved ones if up to date, else pretrained and/or trained through
    ``MPRNetModel`` (the training recipe)."""
    torch.manual_seed(opt['seed'])  # every architecture starts from the same RNG state
    weights = arch_dir / WEIGHTS_FILE
    if weights.is_file():
        saved = read_checkpoint(weights)
        if saved.get('fingerprint') == train_fp:
            net = build_network(arch['network']).to(device)
            load_mprnet_checkpoint(net, weights, strict=True, key='params')
            logger.info('%s: reusing trained weights %s', arch['name'], weights)
            return net, TrainStats(**saved['train_stats'])
    net, stats = train_architecture(arch, device, train_loader, opt['seed'], str(arch_dir))
    if arch['path']['pretrain_network_g']:
        logger.info('%s: started from %s', arch['name'], arch['path']['pretrain_network_g'])
    if stats.iterations:
        logger.info('%s: trained %d iterations in %.1f s, final loss %.4f', arch['name'], stats.iterations,
                    stats.seconds, stats.final_loss)
    with atomic_output(weights) as tmp:
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        torch.save({'params': state, 'fingerprint': train_fp, 'train_stats': stats.as_dict()}, tmp)
    return net, stats


def run_architecture(opt: Dict[str, Any], arch: Dict[str, Any], device: torch.device, val_set: Any,
                     train_loader: Optional[Any], force: bool = False) -> Dict[str, Any]:
    """Train or load, evaluate and profile one architecture; returns its result row (also saved as JSON)."""
    arch_dir = Path(opt['output_dir']) / 'archs' / arch['slug']
    train_fp = _train_fingerprint(opt, arch)
    eval_fp = _eval_fingerprint(opt, arch, device, train_fp)
    result_path = arch_dir / RESULT_FILE
    if force:
        for stale in (result_path, arch_dir / WEIGHTS_FILE):
            stale.unlink(missing_ok=True)
    previous = _read_json(result_path)
    grid = opt['grid']
    crop_paths = [arch_dir / 'crops' / f'{i:02d}.png' for i in range(min(grid['images'], len(val_set)))]
    if previous and previous.get('fingerprint') == eval_fp and all(p.is_file() for p in crop_paths):
        logger.info('%s: results up to date in %s, skipped', arch['name'], arch_dir)
        return previous

    net, stats = _trained_network(opt, arch, device, arch_dir, train_loader, train_fp)
    multiple = arch['size_multiple'] or network_size_multiple(net)
    ev = opt['evaluation']
    evaluation = evaluate_network(net, val_set, opt['metrics'], device, size_multiple=multiple, tile=ev['tile'],
                                  tile_overlap=ev['tile_overlap'], max_images=ev['max_images'],
                                  grid_images=len(crop_paths), crop_size=grid['crop_size'],
                                  desc=f"eval {arch['name']}", precision=ev['precision'])
    for path, img in zip(crop_paths, evaluation.crops):
        write_image(path, img)
    prof = opt['profile']
    in_c = int(getattr(net, 'in_c', 3))
    shape = [prof['batch'], in_c, *prof['input_size']]
    profile = profile_model(net, shape, repeats=prof['repeats'], warmup=prof['warmup'])
    result = {
        'name': arch['name'], 'slug': arch['slug'], 'type': arch['network']['type'], 'network': arch['network'],
        'metrics': evaluation.means, 'per_image': evaluation.per_image,
        'parameters': profile.parameters, 'macs': profile.macs, 'latency_s': profile.latency_s,
        'latency_min_s': profile.latency_min_s, 'peak_memory_bytes': profile.peak_memory_bytes,
        'profile_input_shape': profile.input_shape, 'device': profile.device, 'size_multiple': multiple,
        'train_iterations': stats.iterations, 'train_seconds': stats.seconds, 'train_final_loss': stats.final_loss,
        'train_loss_curve': stats.loss_curve, 'fingerprint': eval_fp,
    }
    atomic_write_text(result_path, json.dumps(result, indent=2))
    logger.info('%s: %s; %.3f M parameters, %.2f GMACs, %.1f ms', arch['name'],
                ', '.join(f'{k} {v:.4f}' for k, v in evaluation.means.items()), profile.parameters / 1e6,
                profile.macs / 1e9, (profile.latency_s or 0) * 1e3)
    return result


def _header(opt: Dict[str, Any], device: torch.device) -> List[str]:
    size = opt['profile']['input_size']
    val = opt['datasets']['val']
    train = opt['datasets'].get('train')
    lines = [
        f"# Comparison: {opt['name']}",
        '',
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; options: `{opt['source']}`",
        f'- machine: {device} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads); '
        f'torch {torch.__version__}',
        f"- evaluated on `{val['dataroot_lq']}` against `{val['dataroot_gt']}` (scored as mprnet-test scores: "
        f"8-bit outputs, unrounded ones for the float metrics; {opt['evaluation']['precision']})",
        f"- MACs, latency and peak memory: one forward pass at {opt['profile']['batch']}x{size[0]}x{size[1]}, "
        f"fp32, median of {opt['profile']['repeats']}",
    ]
    if train is not None:
        recipe = opt['train']
        lines.append(f"- training through MPRNetModel: {recipe['total_iter']} iterations (unless an entry sets its "
                     f"own), batch {train['batch_size_per_gpu']} of {train['gt_size']}x{train['gt_size']} crops, "
                     f"{_describe(recipe['optim_g'])}, {_describe(recipe.get('scheduler'))}, seed {opt['seed']}")
    return lines


def _describe(section: Optional[Dict[str, Any]]) -> str:
    if not section:
        return 'constant lr'
    return section.get('type', '?') + ' (' + ', '.join(f'{k} {v}' for k, v in section.items() if k != 'type') + ')'


def run_comparison(opt: Dict[str, Any], force: bool = False, only: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    """Run every architecture of a parsed comparison (see ``load_compare_options``) and write the report."""
    if opt['num_threads']:
        torch.set_num_threads(int(opt['num_threads']))
    device = resolve_device(opt['device'])
    try:
        warning = check_inference_precision(opt['evaluation']['precision'], device, 'evaluation.precision:')
    except ValueError as exc:
        raise CompareOptionError(f"{opt['source']}: {exc}") from None
    if warning:
        logger.warning(warning)
    if device.type == 'cuda' and device.index is not None:
        torch.cuda.set_device(device)  # BasicSR's models train on the current CUDA device
    archs = opt['architectures']
    if only:
        unknown = sorted(set(only) - {a['name'] for a in archs})
        if unknown:
            names = [a['name'] for a in archs]
            raise CompareOptionError(f'--only: no architecture named {unknown}; the file has {names}')
        archs = [a for a in archs if a['name'] in set(only)]
    try:
        # Results of earlier runs are reused or replaced: only in a folder this package made (or with --force).
        out_dir = claim_output_folder(opt['output_dir'], force, 'output_dir')
    except OutputConflictError as exc:
        raise CompareOptionError(str(exc)) from None

    val_set = build_dataset(opt['datasets']['val'])
    train_loader = None
    if any(a['total_iter'] > 0 for a in archs):
        train_opt = opt['datasets']['train']
        train_loader = make_train_loader(build_dataset(train_opt), train_opt['batch_size_per_gpu'],
                                         train_opt['num_worker_per_gpu'], opt['seed'])

    results: List[Dict[str, Any]] = []
    for index, arch in enumerate(archs, start=1):
        logger.info('[%d/%d] %s (%s)', index, len(archs), arch['name'], arch['network']['type'])
        results.append(run_architecture(opt, arch, device, val_set, train_loader, force))

    metric_names = list(opt['metrics'])
    # The degraded inputs scored as they are: the floor every restorer should clear.
    ev = opt['evaluation']
    inputs = evaluate_network(torch.nn.Identity(), val_set, opt['metrics'], torch.device('cpu'), size_multiple=1,
                              max_images=ev['max_images'], desc='eval inputs').means
    header = _header(opt, device) + ['- the degraded inputs themselves score '
                                     + ', '.join(f'{k} {v:.4f}' for k, v in inputs.items())]
    paths = write_tables(out_dir, results, metric_names, header)
    atomic_write_text(out_dir / 'comparison.json', json.dumps({'inputs': inputs, 'architectures': results}, indent=2))
    paths['json'] = out_dir / 'comparison.json'
    paths['plot'] = plot_tradeoff(out_dir / 'tradeoff.png', results, metric_names[0], opt['profile']['input_size'])
    grid = opt['grid']
    if grid['images'] > 0:
        reference = reference_crops(val_set, grid['images'], grid['crop_size'])
        crops = {r['slug']: [read_image(out_dir / 'archs' / r['slug'] / 'crops' / f'{i:02d}.png')
                             for i in range(len(reference['lq']))] for r in results}
        paths['grid'] = plot_crop_grid(out_dir / 'crops.png', reference, results, crops, metric_names[0])
    return paths
