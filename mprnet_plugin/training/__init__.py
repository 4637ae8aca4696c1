"""The host-neutral training recipe: optimizers, the warm-up-cosine schedule, batch augmentation, identity init,
gradient accumulation and the training step. The BasicSR model and the MMEngine model both call these pieces."""
from mprnet_plugin.training.accumulation import micro_batch_loss_scale, parse_grad_accumulation, split_batch
from mprnet_plugin.training.batch_augment import mixup, saturation_jitter
from mprnet_plugin.training.identity_init import RESIDUAL_OUTPUT_LAYERS, zero_residual_outputs
from mprnet_plugin.training.lr_scheduler import LinearWarmupCosineLR, build_scheduler
from mprnet_plugin.training.optimizers import build_optimizer
from mprnet_plugin.training.step import training_step

__all__ = [
    'micro_batch_loss_scale', 'parse_grad_accumulation', 'split_batch', 'mixup', 'saturation_jitter',
    'RESIDUAL_OUTPUT_LAYERS', 'zero_residual_outputs', 'LinearWarmupCosineLR', 'build_scheduler', 'build_optimizer',
    'training_step',
]
