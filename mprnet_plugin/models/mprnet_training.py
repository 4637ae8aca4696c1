"""MPRNetModel's training half: BasicSR's hooks (settings, optimizers, schedulers, one step) over the core recipe.

All the recipe's work is done by ``mprnet_plugin.training`` (optimizer and scheduler builders, batch augmentation,
identity init, the training step with gradient accumulation) and ``mprnet_plugin.losses.stage_outputs``; this mixin
reads the option file, keeps BasicSR's attributes (``optimizer_g``, ``schedulers``, ``log_dict``, ``net_g_ema``) and
does what happens once per batch: clipping, the optimizer and grad-scaler step, EMA.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Optional

import torch
from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.utils import get_root_logger
from torch import Tensor, nn

from mprnet_plugin.checkpoints.reading import read_checkpoint
from mprnet_plugin.runtime.cpu_heap import keep_cpu_heap, parse_keep_cpu_heap
from mprnet_plugin.config.model_options import (parse_compile_option, parse_grad_accumulation_option,
                                                 parse_grad_clip_option)
from mprnet_plugin.runtime.precision import EMULATED_BF16_WARNING, cpu_has_native_bf16
from mprnet_plugin.training.batch_augment import mixup, parse_mixup_option, parse_saturation_option, saturation_jitter
from mprnet_plugin.training.identity_init import zero_residual_outputs
from mprnet_plugin.training.lr_scheduler import build_scheduler
from mprnet_plugin.training.optimizers import build_optimizer
from mprnet_plugin.training.step import training_step

DEFAULT_PIXEL_OPT = {'type': 'MPRNetLoss'}


class MPRNetTrainingMixin:
    """Training for a BasicSR ``SRModel`` subclass: every stage output supervised, the core recipe's options."""

    opt: Dict[str, Any]
    amp_dtype: Optional[torch.dtype]

    def init_training_settings(self) -> None:
        """Loss, EMA, optimizer, scheduler, gradient clipping and accumulation, mixed precision and compilation."""
        self.net_g.train()
        train_opt = self.opt['train']
        logger = get_root_logger()
        self.grad_accumulation = parse_grad_accumulation_option(self.opt)
        if self.grad_accumulation > 1:
            logger.info(f'Gradient accumulation: each batch in {self.grad_accumulation} micro-batches')

        if train_opt.get('identity_init', False) and self.opt['path'].get('pretrain_network_g') is None:
            zeroed = zero_residual_outputs(self.get_bare_model(self.net_g))
            logger.info(f'identity_init: zeroed {", ".join(zeroed)}')

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

        self.grad_clip = parse_grad_clip_option(train_opt.get('grad_clip'))
        self.scaler = torch.amp.GradScaler('cuda') if self.amp_dtype == torch.float16 else None
        if self.amp_dtype is not None:
            logger.info(f'Mixed precision training with {train_opt["amp"]} (autocast on {self.device.type}, '
                        f'losses in float32{", fp16 grad scaler" if self.scaler is not None else ""})')
            if self.device.type == 'cpu' and not cpu_has_native_bf16():
                logger.warning(f'train.amp: {EMULATED_BF16_WARNING}')

        self.saturation = parse_saturation_option(train_opt.get('saturation_jitter'))
        self.mixup = parse_mixup_option(train_opt.get('mixup'))

        # CPU training frees and reallocates the same large activations every step; keeping them in the heap
        # avoids re-faulting their pages (mprnet_plugin/cpu_heap.py has the measurement).
        keep_heap = parse_keep_cpu_heap(train_opt.get('keep_cpu_heap', True), 'train.keep_cpu_heap')
        if keep_heap and self.device.type == 'cpu' and keep_cpu_heap():
            logger.info('train.keep_cpu_heap: freed CPU memory stays in the process heap')

        self.compiled_net_g: Optional[nn.Module] = None
        self.compile_checked = False
        compile_kwargs = parse_compile_option(train_opt.get('compile', False))
        if compile_kwargs is not None:
            # true, or torch.compile's own arguments: {mode: max-autotune, backend: inductor, dynamic: false}
            logger.info(f'Compiling net_g with torch.compile({compile_kwargs}) for training (the first iterations '
                        'are slow)')
            self.compiled_net_g = torch.compile(self.net_g, **compile_kwargs)

        self.setup_optimizers()
        self.setup_schedulers()

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

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``train.amp``'s dtype on the model's device (CUDA, or the CPU in bf16), or nothing."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def forward_backward(self, net: nn.Module) -> Dict[str, Tensor]:
        """Forward and backward of ``net`` on the current batch (in micro-batches); returns the loss terms."""
        return training_step(net, self.lq, self.gt, self.cri_pix, self.grad_accumulation, self.autocast, self.scaler)

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
        """Apply ``train.saturation_jitter`` and, from ``mixup.start_iter`` on, ``train.mixup`` to the whole batch."""
        if self.saturation is not None:
            self.lq, self.gt = saturation_jitter(self.lq, self.gt, *self.saturation)
        if self.mixup is not None and current_iter > self.mixup[1]:
            self.lq, self.gt = mixup(self.lq, self.gt, self.mixup[0])

    def optimize_parameters(self, current_iter: int) -> None:
        """One optimizer step on the batch: augment, forward/backward (accumulated), clip, step, EMA."""
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
