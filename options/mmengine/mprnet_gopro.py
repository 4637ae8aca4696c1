# MPRNet deblurring trained on GoPro with MMEngine's Runner: the authors' recipe.
#   python -m mprnet_plugin.mmengine.train options/mmengine/mprnet_gopro.py
#   torchrun --nproc_per_node=4 -m mprnet_plugin.mmengine.train options/mmengine/mprnet_gopro.py --launcher pytorch
#   python -m mprnet_plugin.mmengine.test options/mmengine/mprnet_gopro.py --checkpoint model_deblurring.pth
# Data: `mprnet-prep gopro --src GOPRO_Large --dst datasets/GoPro` writes the LMDBs below.
custom_imports = dict(imports=['mprnet_plugin.mmengine'], allow_failed_imports=False)

work_dir = './work_dirs/mprnet_gopro'
data_root = 'datasets/GoPro'

model = dict(
    type='MPRNetRestorer',
    generator=dict(type='MPRNet', preset='deblurring'),  # n_feat=96, scale_unetfeats=48, scale_orsnetfeats=32
    loss=dict(type='MPRNetLoss', charbonnier_eps=1e-3, edge_weight=0.05),  # sum over the 3 stages
    data_preprocessor=dict(type='RestorationDataPreprocessor'),
    tile=None,  # validation on whole 1280x720 images; set e.g. 512 to tile when memory is short
    saturation_jitter=dict(prob=0.3333, range=(0.8, 1.2)),  # the authors': saturation x U[0.8, 1.2] on 1 in 3 patches
)

# 16 images of 256x256 per step in all: 4 GPUs x 4 (authors' setting). Scale batch_size with the GPU count.
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='BasicSRPairedDataset',
        name='GoPro_train',
        dataroot_lq=f'{data_root}/train/input_crops.lmdb',
        dataroot_gt=f'{data_root}/train/target_crops.lmdb',
        phase='train',
        gt_size=256,
        use_hflip=True,
        use_rot=True,  # with use_hflip: all 8 flip/rotation variants
    ),
)
val_dataloader = dict(
    batch_size=1,  # full-size images of any size: padded to a multiple of 8 and cropped back one by one
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='BasicSRPairedDataset',
        name='GoPro',
        dataroot_lq=f'{data_root}/test/input.lmdb',
        dataroot_gt=f'{data_root}/test/target.lmdb',
        phase='val',
    ),
)
test_dataloader = val_dataloader

# GoPro is scored in RGB on the 8-bit outputs (see the evaluation protocol in the README).
val_evaluator = dict(
    type='BasicSRMetric',
    basicsr_metrics=dict(
        psnr=dict(type='calculate_psnr', crop_border=0, test_y_channel=False),
        ssim=dict(type='calculate_ssim', crop_border=0, test_y_channel=False),
    ),
)
test_evaluator = val_evaluator

max_iters = 400_000  # about 3000 epochs of 2103 pairs at 16 per step, as the authors trained
warmup_iters = 400  # 3 epochs of 2103 pairs at 16 per step
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=20_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0),
    # Gradient accumulation (MMEngine's own): one optimizer step every N iterations, each iteration one micro-batch.
    # E.g. the paper's 16 on one GPU as batch_size=4 x accumulative_counts=4. MMEngine counts iterations, not steps:
    # multiply max_iters, warmup_iters, val_interval and the checkpoint interval by N as well.
    # accumulative_counts=4,
)
# Linear warm-up, then cosine annealing to 1e-6 over the remaining iterations.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=1e-6, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100, log_metric_by_epoch=False),  # validation scalars at their iteration
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=5000, by_epoch=False, max_keep_ckpts=5, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# Keeps DDP usable on CPU-only machines (gloo); on GPUs it is MMEngine's usual wrapper.
model_wrapper_cfg = dict(type='AnyDeviceDistributedDataParallel')
env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # the launcher uses gloo instead when there is no GPU
)
randomness = dict(seed=1234, diff_rank_seed=True)  # the authors' seed; each rank draws different crops
keep_cpu_heap = True  # CPU runs: freed memory stays in glibc's heap (no page faults each step; keeps peak memory)
log_processor = dict(by_epoch=False, window_size=100)
log_level = 'INFO'
load_from = None
resume = False
