"""MPRNetModel: BasicSR's SRModel for restoration networks with one or more supervised stage outputs.

What it adds to SRModel (training in ``mprnet_training.py``, option parsing in ``options.py``):

* training on every stage output with ``train.pixel_opt`` (``MPRNetLoss`` by default), each stage's term logged; a
  network with one output trains as one stage, exactly as SRModel would;
* validation and testing on output 0 through ``inference.tiling.restore``: any image size (reflect-padded to a
  multiple of 8 and cropped back), optionally in blended tiles (``val.tile: {size, overlap}``), in
  ``val.precision`` (fp32 by default; bf16 on CUDA or the CPU, fp16 on CUDA), compiled (``val.compile``) and
  averaged over the 8 flips/rotations (``val.self_ensemble: true``, ``inference.self_ensemble``);
* the authors' saturation jitter (``train.saturation_jitter``) and MixUp (``train.mixup``) on each batch;
* gradient accumulation (``train.grad_accumulation``), EMA that also starts from the authors' checkpoints
  (``param_key_g: state_dict``), gradient clipping (``train.grad_clip``), mixed precision (``train.amp: bf16`` on
  CUDA or the CPU, ``fp16`` on CUDA), ``train.compile``, and on the CPU ``train.keep_cpu_heap``;
* Adam, AdamW and more as ``optim_g.type`` and the authors' warm-up-then-cosine schedule;
* checkpoints and training states written atomically, so ``--auto_resume`` never picks up half a file;
* in test mode, ``<results_root>/metrics/<dataset>.json`` with the mean and per-image metrics, and optionally each
  output as float32 RGB ``.npy`` (``val.save_npy``).
"""
from __future__ import annotations

import functools
import io
import os.path as osp
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, tensor2img
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY
from torch import Tensor, nn
from tqdm import tqdm

from mprnet_plugin.checkpoints.fitting import fit_checkpoint
from mprnet_plugin.checkpoints.conversion import save_safetensors_copy
from mprnet_plugin.io.atomic import atomic_output, atomic_write_bytes
from mprnet_plugin.io.images import write_image
from mprnet_plugin.models.mprnet_training import MPRNetTrainingMixin
from mprnet_plugin.archs.descriptor import network_size_multiple
from mprnet_plugin.config.model_options import (parse_amp_option, parse_self_ensemble_option, parse_tile_option,
                                                parse_val_compile_option, parse_val_precision_option)
from mprnet_plugin.inference.compiled import CompiledNetwork
from mprnet_plugin.reporting.records import write_metric_record
from mprnet_plugin.metrics.scoring import ScoringError, mean_metrics, score_images, takes_unrounded
from mprnet_plugin.inference.self_ensemble import self_ensemble
from mprnet_plugin.inference.tiling import restore
from mprnet_plugin.runtime.precision import autocast
from mprnet_plugin.version import __version__


@MODEL_REGISTRY.register()
class MPRNetModel(MPRNetTrainingMixin, SRModel):
    """BasicSR model for MPRNet: multi-stage loss in training, output 0 (padded, optionally tiled) at test."""

    def __init__(self, opt: Dict[str, Any]) -> None:
        get_root_logger().info(f'mprnet_plugin {__version__}')
        if opt['num_gpu'] != 0 and not torch.cuda.is_available():
            raise ValueError(f"num_gpu: {opt['num_gpu']} but torch sees no CUDA device; set num_gpu: 0 to run on "
                             'the CPU')
        val_opt = opt.get('val') or {}
        self.tile_size, self.tile_overlap = parse_tile_option(val_opt.get('tile'))
        device = torch.device('cuda' if opt['num_gpu'] != 0 else 'cpu')
        self.val_precision, warning = parse_val_precision_option(val_opt.get('precision'), device)
        if warning:
            get_root_logger().warning(warning)
        self.val_compile = parse_val_compile_option(val_opt.get('compile'))
        self.val_compiled: Optional[CompiledNetwork] = None
        self.self_ensemble = parse_self_ensemble_option(val_opt.get('self_ensemble'))
        self.amp_dtype: Optional[torch.dtype] = None
        if opt['is_train']:
            self.amp_dtype = parse_amp_option(opt['train'].get('amp'), device)
        super().__init__(opt)
        torch.backends.cudnn.benchmark = bool(opt.get('cudnn_benchmark', True))

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True,
                     param_key: Optional[str] = 'params') -> None:
        """Load weights from any checkpoint layout (authors', BasicSR, MMEngine, bare) into ``net``.

        ``mprnet_plugin.checkpoints.fitting`` decides: a standard key the file lacks (``params_ema`` in an authors'
        checkpoint) falls back to the weights it holds; not strict loads what fits and warns about the rest.
        """
        logger = get_root_logger()
        bare = self.get_bare_model(net)
        used = fit_checkpoint(bare, load_path, strict=strict, key=param_key, warn=logger.warning)
        logger.info(f'Loading {type(bare).__name__} model from {load_path}, with param key: [{used or "<root>"}].')

    # ------------------------------------------------------------------------------------------ validation
    def validation_forward(self, net: nn.Module) -> Any:
        """What restores at test time: ``net``, or with ``val.compile`` its compiled form (built once per network)."""
        if not self.val_compile:
            return net
        if self.val_compiled is None or self.val_compiled.module is not net:
            logger = get_root_logger()
            self.val_compiled = CompiledNetwork(net, notify=logger.warning, inform=logger.info)
        return self.val_compiled

    def test(self) -> None:
        """Restore ``self.lq`` with the EMA network if there is one: padded to the network's size multiple, optionally
        tiled, in ``val.precision`` (float32 output), with ``val.self_ensemble`` averaged over 8 flips/rotations.
        """
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        one_pass = functools.partial(restore, self.validation_forward(net), tile=self.tile_size,
                                     overlap=self.tile_overlap, multiple=network_size_multiple(net))
        with torch.no_grad(), autocast(self.device, self.val_precision):
            self.output = (self_ensemble(one_pass, self.lq) if self.self_ensemble else one_pass(self.lq)).float()
        net.train(was_training)

    def dist_validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool) -> None:
        """Validate on rank 0 only, as SRModel does (the other ranks wait at their next collective call)."""
        if self.opt['rank'] == 0:
            self.nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def image_save_path(self, dataset_name: str, img_name: str, current_iter: Any) -> str:
        """Where BasicSR puts a validation image (training) or a test output (test mode)."""
        visualization = self.opt['path']['visualization']
        if self.opt['is_train']:
            return osp.join(visualization, img_name, f'{img_name}_{current_iter}.png')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(visualization, dataset_name, f'{img_name}_{suffix}.png')

    def iterate_outputs(self, dataloader: Any) -> Iterator[Tuple[str, Tensor, Optional[Tensor]]]:
        """Yield ``(image name, output, target or None)`` on the CPU for every image of ``dataloader``."""
        for val_data in dataloader:
            img_name = osp.splitext(osp.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            output = self.output.detach().float().cpu()
            target = self.gt.detach().cpu() if hasattr(self, 'gt') else None
            # Free device memory before the next, possibly larger, image.
            for name in ('lq', 'gt', 'output'):
                if hasattr(self, name):
                    delattr(self, name)
            if self.device.type == 'cuda':
                torch.cuda.empty_cache()
            yield img_name, output, target

    def nondist_validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool) -> None:
        """Restore every image, save outputs if asked, compute and log the metrics (and their JSON in test mode)."""
        dataset_name = dataloader.dataset.opt['name']
        val_opt = self.opt['val']
        metric_opts = val_opt.get('metrics') or {}
        save_npy = bool(val_opt.get('save_npy', False)) and not self.opt['is_train']
        if metric_opts:
            self._initialize_best_metric_results(dataset_name)
        per_image: Dict[str, Dict[str, float]] = {}
        pbar = tqdm(total=len(dataloader), unit='image', desc=f'Test {dataset_name}') if val_opt.get('pbar') else None

        for img_name, output, target in self.iterate_outputs(dataloader):
            out_img = tensor2img([output])
            if save_img:
                write_image(self.image_save_path(dataset_name, img_name, current_iter), out_img)
            if save_npy:
                self.save_output_npy(output, dataset_name, img_name)
            values: Dict[str, float] = {}
            if metric_opts:
                if target is None:
                    raise ValueError(f'val.metrics are set but dataset {dataset_name!r} has no ground truth '
                                     f'(image {img_name!r}); remove val.metrics to test without targets')
                try:
                    values = score_images(output, target, metric_opts)
                except ScoringError as exc:
                    raise type(exc)(f'{dataset_name}, image {img_name!r}: {exc}') from None
            per_image[img_name] = values
            if pbar is not None:
                pbar.update(1)
        if pbar is not None:
            pbar.close()

        means = mean_metrics(per_image, metric_opts)
        if metric_opts:
            self.metric_results = dict(means)
            for name, value in means.items():
                self._update_best_metric_result(dataset_name, name, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        if not self.opt['is_train']:
            self.write_metrics_json(dataset_name, means, per_image,
                                    [n for n, o in metric_opts.items() if takes_unrounded(o['type'])])

    def save_output_npy(self, output: Tensor, dataset_name: str, img_name: str) -> None:
        """Save one output as float32 H x W x C (RGB) in [0, 1], cropped and clamped but not rounded."""
        array = output[0].clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32)
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(osp.join(self.opt['path']['visualization'], dataset_name, f'{img_name}.npy'),
                           buffer.getvalue())

    def write_metrics_json(self, dataset_name: str, means: Dict[str, float],
                           per_image: Dict[str, Dict[str, float]], unrounded: list[str]) -> None:
        """Write ``<results_root>/metrics/<dataset>.json``: the mean and per-image metrics of one test set."""
        path = write_metric_record(self.opt['path']['results_root'], dataset_name, len(per_image), means, per_image,
                                   unrounded, type(self).__name__)
        self.recorded_test_set = dataset_name  # the record hook (metrics/record_hook.py) then writes nothing
        get_root_logger().info(f'Metrics of {dataset_name} written to {path}')

    # ---------------------------------------------------------------------------------- saving and resuming
    @master_only
    def save_network(self, net: Any, net_label: str, current_iter: Any, param_key: Any = 'params') -> None:
        """Save ``{param_key: state_dict}`` to ``models/<label>_<iter>.pth`` atomically (BasicSR's layout)."""
        if current_iter == -1:
            current_iter = 'latest'
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys')
        save_dict = {key: {k: v.detach().cpu() for k, v in self.get_bare_model(n).state_dict().items()}
                     for n, key in zip(nets, keys)}
        with atomic_output(osp.join(self.opt['path']['models'], f'{net_label}_{current_iter}.pth')) as tmp:
            torch.save(save_dict, tmp)
        copy = osp.join(self.opt['path']['models'], f'{net_label}_{current_iter}.safetensors')
        save_safetensors_copy(save_dict, copy, self.opt.get('logger', {}).get('save_safetensors'))

    @master_only
    def save_training_state(self, epoch: int, current_iter: int) -> None:
        """Save optimizers, schedulers and the fp16 grad scaler to ``training_states/<iter>.state`` atomically."""
        if current_iter == -1:
            return
        state: Dict[str, Any] = {'epoch': epoch, 'iter': current_iter,
                                 'optimizers': [o.state_dict() for o in self.optimizers],
                                 'schedulers': [s.state_dict() for s in self.schedulers]}
        if getattr(self, 'scaler', None) is not None:
            state['scaler'] = self.scaler.state_dict()
        with atomic_output(osp.join(self.opt['path']['training_states'], f'{current_iter}.state')) as tmp:
            torch.save(state, tmp)

    def resume_training(self, resume_state: Dict[str, Any]) -> None:
        """Reload optimizers, schedulers and the grad scaler from a training state."""
        super().resume_training(resume_state)
        if getattr(self, 'scaler', None) is not None and 'scaler' in resume_state:
            self.scaler.load_state_dict(resume_state['scaler'])
