# MPRNet-Local (TLC's test-time local converter) on GoPro with MMEngine's Runner: for testing trained weights.
#   python -m mprnet_plugin.mmengine.test options/mmengine/mprnet_gopro_local.py --checkpoint model_deblurring.pth
# Every MPRNet checkpoint loads strictly (the state dict is MPRNet's). Train with mprnet_gopro.py: on 256x256 patches
# the local pooling equals the global one, so MPRNet-Local only changes what happens on larger test images.
_base_ = './mprnet_gopro.py'

work_dir = './work_dirs/mprnet_gopro_local'

model = dict(
    # Each channel-attention window: its feature size at train_size, times base_size / train_size (TLC: 256 -> 384).
    generator=dict(type='MPRNetLocal', preset='deblurring', train_size=[256, 256], base_size=[384, 384],
                   fast_imp=False),
)
