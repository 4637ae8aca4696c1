"""MPRNetModel: BasicSR's SRModel for a network with three supervised stage outputs.

What it adds to SRModel:

* training on all three outputs with ``train.pixel_opt`` (``MPRNetLoss`` by default), each stage's term logged;
* validation and testing on output 0 through ``mprnet_plugin.restore.restore``: any image size (reflect-padded to a
  multiple of 8 and cropped back), optionally in blended tiles (``val.tile: {size, overlap}``);
* the authors' saturation jitter (``train.saturation_jitter``) and MixUp (``train.mixup``) on each batch;
* EMA that also starts from the authors' checkpoints (``param_key_g: state_dict``), gradient clipping
  (``train.grad_clip``), mixed precision on CUDA (``train.amp: bf16 | fp16``), ``train.compile``, and on the CPU
  ``train.keep_cpu_heap`` (on by default: freed memory stays in glibc's heap instead of page-faulting back);
* Adam, AdamW and more as ``optim_g.type`` and the authors' warm-up-then-cosine schedule;
* checkpoints and training states written atomically, so ``--auto_resume`` never picks up half a file;
* in test mode, ``<results_root>/metrics/<dataset>.json`` with the mean and per-image metrics, and optionally each
  output as float32 RGB ``.npy`` (``val.save_npy``).
"""
from __future__ import annotations

import contextlib
import io
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np
import torch
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger, tensor2img
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY
from torch import Tensor, nn
from torch.nn.parallel import DataParallel, DistributedDataParallel
from tqdm import tqdm

from mprnet_plugin.checkpoint import (
    WEIGHT_KEYS,
    CheckpointError,
    describe_mismatch,
    extract_state_dict,
    read_checkpoint,
)
from mprnet_plugin.compat import ddp_device_ids
from mprnet_plugin.cpu_heap import keep_cpu_heap, parse_keep_cpu_heap
from mprnet_plugin.fileio import atomic_output, atomic_write_bytes
from mprnet_plugin.image_io import write_image
from mprnet_plugin.metrics.records import write_metric_record
from mprnet_plugin.metrics.scoring import ScoringError, mean_metrics, score_images, takes_unrounded
from mprnet_plugin.models.batch_augment import mixup, parse_mixup_option, parse_saturation_option, saturation_jitter
from mprnet_plugin.models.lr_scheduler import build_scheduler
from mprnet_plugin.models.optimizers import build_optimizer
from mprnet_plugin.restore import restore

# The layers that add each stage's residual to its input image: zeroed by ``train.identity_init``.
RESIDUAL_OUTPUT_LAYERS = ('tail', 'sam12.conv2', 'sam23.conv2')
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
AMP_OFF = (None, False, 'none', 'fp32', 'off')
DEFAULT_PIXEL_OPT = {'type': 'MPRNetLoss'}


def parse_amp_option(value: Any, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for ``train.amp`` (None when off); refuses mixed precision on the CPU."""
    if value in AMP_OFF:
        return None
    if value not in AMP_DTYPES:
        raise ValueError(f'train.amp: {value!r} is not supported; expected one of {sorted(AMP_DTYPES)} or none')
    if device.type != 'cuda':
        raise ValueError(f'train.amp: {value} needs a CUDA device, but this run is on the CPU (num_gpu: 0 or no GPU '
                         'visible). Remove train.amp (or set it to none) to train in float32 on the CPU.')
    return AMP_DTYPES[value]


def parse_tile_option(value: Any) -> Tuple[Optional[int], int]:
    """``(tile size, overlap)`` from ``val.tile``: null (whole images), an int size, or ``{size, overlap}``."""
    if value is None or value is False:
        return None, 0
    if isinstance(value, int):
        size, overlap = value, 32
    elif isinstance(value, Mapping) and 'size' in value:
        size, overlap = value['size'], value.get('overlap', 32)
    else:
        raise ValueError(f'val.tile: expected null, a tile size or {{size: N, overlap: M}}; got {value!r}')
    if not isinstance(size, int) or size <= 0 or size % 8:
        raise ValueError(f'val.tile.size must be a positive multiple of 8; got {size!r}')
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(f'val.tile.overlap must be an integer in [0, size={size}); got {overlap!r}')
    return size, overlap


@MODEL_REGISTRY.register()
class MPRNetModel(SRModel):
    """BasicSR model for MPRNet: multi-stage loss in training, output 0 (padded, optionally tiled) at test."""

    def __init__(self, opt: Dict[str, Any]) -> None:
        if opt['num_gpu'] != 0 and not torch.cuda.is_available():
            raise ValueError(f"num_gpu: {opt['num_gpu']} but torch sees no CUDA device; set num_gpu: 0 to run on "
                             'the CPU')
        val_opt = opt.get('val') or {}
        self.tile_size, self.tile_overlap = parse_tile_option(val_opt.get('tile'))
        self.amp_dtype: Optional[torch.dtype] = None
        if opt['is_train']:
            device = torch.device('cuda' if opt['num_gpu'] != 0 else 'cpu')
            self.amp_dtype = parse_amp_option(opt['train'].get('amp'), device)
        super().__init__(opt)
        torch.backends.cudnn.benchmark = bool(opt.get('cudnn_benchmark', True))

    # ----------------------------------------------------------------------------------------------- setup
    def model_to_device(self, net: nn.Module) -> nn.Module:
        """Move ``net`` to the device; wrap it in DDP (without device ids on CPU) or DataParallel as configured."""
        net = net.to(self.device)
        if self.opt['dist']:
            net = DistributedDataParallel(net, device_ids=ddp_device_ids(self.device),
                                          find_unused_parameters=self.opt.get('find_unused_parameters', False))
        elif self.opt['num_gpu'] > 1:
            net = DataParallel(net)
        return net

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True,
                     param_key: Optional[str] = 'params') -> None:
        """Load weights from any checkpoint layout (authors', BasicSR, MMEngine, bare) into ``net``.

        A standard key the file lacks (say ``params_ema`` in an authors' checkpoint, or ``state_dict`` in a BasicSR
        one while resuming) falls back to the weights the file does hold; any other missing key is an error.
        """
        logger = get_root_logger()
        obj = read_checkpoint(load_path)
        key = param_key
        if key is not None and key not in obj and key in WEIGHT_KEYS:
            key = None
        state, used = extract_state_dict(obj, key, load_path)
        bare = self.get_bare_model(net)
        problems = describe_mismatch(bare, state)
        if strict and problems:
            raise CheckpointError(f'checkpoint {load_path!r} does not fit {type(bare).__name__}: ' + '; '.join(problems)
                                  + '. Set path.strict_load_g: false to load the matching weights only.')
        if problems:
            logger.warning(f'Loading {load_path} non-strictly: ' + '; '.join(problems))
            own = bare.state_dict()
            state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
        bare.load_state_dict(state, strict=strict)
        logger.info(f'Loading {type(bare).__name__} model from {load_path}, with param key: [{used or "<root>"}].')

    def init_training_settings(self) -> None:
        """Loss, EMA, optimizer, scheduler, gradient clipping, mixed precision and compilation."""
        self.net_g.train()
        train_opt = self.opt['train']
        logger = get_root_logger()

        if train_opt.get('identity_init', False) and self.opt['path'].get('pretrain_network_g') is None:
            self.zero_residual_outputs()

        self.ema_decay = train_opt.get('ema_decay', 0)
        if self.ema_decay > 0:
            logger.info(f'Use Exponential Moving Average with decay: {self.ema_decay}')
            # Used only for validation and saving, so never wrapped in DDP.
            self.net_g_ema = build_network(self.opt['network_g']).to(self.device)
            load_path = self.opt['path'].get('pretrain_network_g')
            if load_path is not None and 'params_ema' in read_checkpoint(load_path):
                self.load_network(self.net_g_ema, load_path, self.opt['path'].get('strict_load_g', True), 'params_ema')
            else:  # no EMA copy in the file (e.g. the authors' checkpoints): start from net_g's weights
                self.model_ema(0)
            self.net_g_ema.eval()

        self.cri_pix = build_loss(dict(train_opt.get('pixel_opt') or DEFAULT_PIXEL_OPT)).to(self.device)
        if train_opt.get('perceptual_opt'):
            raise ValueError('train.perceptual_opt is not supported by MPRNetModel; use train.pixel_opt')

        grad_clip = train_opt.get('grad_clip') or 0
        if not isinstance(grad_clip, (int, float)) or grad_clip < 0:
            raise ValueError(f'train.grad_clip must be a non-negative max gradient norm (0 or null: off); '
                             f'got {grad_clip!r}')
        self.grad_clip = float(grad_clip)
        self.scaler = torch.amp.GradScaler('cuda') if self.amp_dtype == torch.float16 else None
        if self.amp_dtype is not None:
            logger.info(f'Mixed precision training with {train_opt["amp"]}')

        self.saturation = parse_saturation_option(train_opt.get('saturation_jitter'))
        self.mixup = parse_mixup_option(train_opt.get('mixup'))

        # CPU training frees and reallocates the same large activations every step; keeping them in the heap
        # avoids re-faulting their pages (mprnet_plugin/cpu_heap.py has the measurement).
        keep_heap = parse_keep_cpu_heap(train_opt.get('keep_cpu_heap', True), 'train.keep_cpu_heap')
        if keep_heap and self.device.type == 'cpu' and keep_cpu_heap():
            logger.info('train.keep_cpu_heap: freed CPU memory stays in the process heap')

        self.compiled_net_g: Optional[nn.Module] = None
        self.compile_checked = False
        compile_opt = train_opt.get('compile', False)
        if compile_opt:
            # true, or torch.compile's own arguments: {mode: max-autotune, backend: inductor, dynamic: false}
            kwargs = dict(compile_opt) if isinstance(compile_opt, Mapping) else {}
            logger.info(f'Compiling net_g with torch.compile({kwargs}) for training (the first iterations are slow)')
            self.compiled_net_g = torch.compile(self.net_g, **kwargs)

        self.setup_optimizers()
        self.setup_schedulers()

    def zero_residual_outputs(self) -> None:
        """Zero the layers that add each stage's residual, so training starts from the identity.

        Every output then equals the input at iteration 0 instead of a random perturbation of it, which short
        schedules (and small data) would otherwise spend their first iterations undoing.
        """
        bare = self.get_bare_model(self.net_g)
        with torch.no_grad():
            for name in RESIDUAL_OUTPUT_LAYERS:
                for param in bare.get_submodule(name).parameters():
                    param.zero_()
        get_root_logger().info(f'identity_init: zeroed {", ".join(RESIDUAL_OUTPUT_LAYERS)}')

    def setup_optimizers(self) -> None:
        """Build ``optim_g`` (Adam, AdamW, SGD, ...) over the trainable parameters of net_g."""
        optim_opt = dict(self.opt['train'].get('optim_g') or {})
        if 'type' not in optim_opt or 'lr' not in optim_opt:
            raise ValueError(f'train.optim_g needs type and lr (e.g. {{type: Adam, lr: 2e-4}}); got {optim_opt}')
        params = []
        for name, param in self.net_g.named_parameters():
            if param.requires_grad:
                params.append(param)
            else:
                get_root_logger().warning(f'Params {name} will not be optimized.')
        optim_type, lr = optim_opt.pop('type'), float(optim_opt.pop('lr'))
        self.optimizer_g = build_optimizer(optim_type, params, lr, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    def setup_schedulers(self) -> None:
        """Build ``train.scheduler`` for each optimizer (``LinearWarmupCosineLR`` or one of BasicSR's)."""
        train_opt = self.opt['train']
        scheduler_opt = dict(train_opt.get('scheduler') or {})
        if not scheduler_opt:
            return  # constant learning rate
        if scheduler_opt.get('type') == 'LinearWarmupCosineLR' and train_opt.get('warmup_iter', -1) > 0:
            raise ValueError('train.warmup_iter and LinearWarmupCosineLR both warm up the lr: set '
                             'train.scheduler.warmup_iter and remove train.warmup_iter (or set it to -1)')
        for optimizer in self.optimizers:
            self.schedulers.append(build_scheduler(optimizer, scheduler_opt, int(train_opt['total_iter'])))

    # -------------------------------------------------------------------------------------------- training
    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``train.amp``'s dtype on CUDA, or nothing."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type='cuda', dtype=self.amp_dtype)

    def loss_terms(self, preds: List[Tensor]) -> Dict[str, Tensor]:
        """Each stage's weighted loss terms: ``MPRNetLoss.terms`` or, for a plain loss, ``l_pix_<stage>``."""
        if hasattr(self.cri_pix, 'terms'):
            return self.cri_pix.terms(preds, self.gt)
        return {f'l_pix_{i}': self.cri_pix(pred, self.gt) for i, pred in enumerate(preds)}

    def forward_backward(self, net: nn.Module) -> Dict[str, Tensor]:
        """One forward and backward pass of ``net`` on the current batch; returns the loss terms."""
        with self.autocast():
            preds = net(self.lq)
        # The losses run in float32 whatever the autocast dtype of the network.
        terms = self.loss_terms([pred.float() for pred in preds])
        l_total = torch.stack(list(terms.values())).sum()
        (self.scaler.scale(l_total) if self.scaler is not None else l_total).backward()
        return OrderedDict(l_total=l_total.detach(), **{k: v.detach() for k, v in terms.items()})

    def compiled_forward_backward(self) -> Dict[str, Tensor]:
        """``forward_backward`` through the compiled net_g, falling back to eager if compilation fails."""
        if self.compile_checked:
            return self.forward_backward(self.compiled_net_g)
        try:
            loss_dict = self.forward_backward(self.compiled_net_g)
        except Exception as exc:  # compiler errors come in many types; anything real recurs in eager mode
            get_root_logger().warning(f'torch.compile failed ({type(exc).__name__}: {str(exc)[:300]}); '
                                      'training continues in eager mode')
            self.compiled_net_g = None
            self.optimizer_g.zero_grad(set_to_none=True)
            return self.forward_backward(self.net_g)
        self.compile_checked = True
        return loss_dict

    def augment_batch(self, current_iter: int) -> None:
        """Apply ``train.saturation_jitter`` and, from ``mixup.start_iter`` on, ``train.mixup`` to the batch."""
        if self.saturation is not None:
            self.lq, self.gt = saturation_jitter(self.lq, self.gt, *self.saturation)
        if self.mixup is not None and current_iter > self.mixup[1]:
            self.lq, self.gt = mixup(self.lq, self.gt, self.mixup[0])

    def optimize_parameters(self, current_iter: int) -> None:
        """One training step on all stage outputs, with optional clipping, mixed precision and EMA."""
        self.augment_batch(current_iter)
        self.optimizer_g.zero_grad(set_to_none=True)
        if self.compiled_net_g is not None:
            loss_dict = self.compiled_forward_backward()
        else:
            loss_dict = self.forward_backward(self.net_g)
        if self.grad_clip > 0:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer_g)
            torch.nn.utils.clip_grad_norm_(self.net_g.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer_g)
            self.scaler.update()
        else:
            self.optimizer_g.step()
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # ------------------------------------------------------------------------------------------ validation
    def test(self) -> None:
        """Restore ``self.lq`` with the EMA network if there is one: padded to a multiple of 8, optionally tiled."""
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            self.output = restore(net, self.lq, tile=self.tile_size, overlap=self.tile_overlap)
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
                    raise ScoringError(f'{dataset_name}, image {img_name!r}: {exc}') from None
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
