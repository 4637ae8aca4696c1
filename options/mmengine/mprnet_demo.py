# A small MPRNet trained on the built-in demo set (scikit-image photographs with synthetic camera shake), on CPU.
#   python -c "from mprnet_plugin.data.demo_data import build_demo_dataset; build_demo_dataset('demo_output/data')"
#   python -m mprnet_plugin.mmengine.train options/mmengine/mprnet_demo.py
#   python -m mprnet_plugin.mmengine.test options/mmengine/mprnet_demo.py \
#       --checkpoint demo_output/mmengine/iter_700.pth --out-dir demo_output/mmengine/restored
# (`mprnet-demo` builds the same data into demo_output/data as well.)
_base_ = './mprnet_gopro.py'

work_dir = './demo_output/mmengine'
demo_root = 'demo_output/data'

# The same run as the BasicSR demo (options/demo/MPRNet_demo_train.yml): the authors' structure at reduced width,
# starting from the identity, so that a few hundred steps on 2 CPU cores already sharpen the held-out photographs.
model = dict(
    generator=dict(type='MPRNet', n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=2),
    identity_init=True,
)

train_dataloader = dict(
    batch_size=4,
    num_workers=0,  # decode in the training process: 2 cores are busy enough
    persistent_workers=False,
    dataset=dict(
        name='demo_train',
        dataroot_lq=f'{demo_root}/train/input.lmdb',
        dataroot_gt=f'{demo_root}/train/target.lmdb',
        gt_size=96,
    ),
)
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        name='demo_heldout',
        dataroot_lq=f'{demo_root}/test/input.lmdb',
        dataroot_gt=f'{demo_root}/test/target.lmdb',
    ),
)
test_dataloader = val_dataloader

max_iters = 700
warmup_iters = 30
train_cfg = dict(max_iters=max_iters, val_interval=350)
optim_wrapper = dict(optimizer=dict(lr=2e-3))  # higher than the recipe's 2e-4: a short run on a small model
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=1e-5, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=350, max_keep_ckpts=2),
)
env_cfg = dict(cudnn_benchmark=False)
log_processor = dict(window_size=25)
