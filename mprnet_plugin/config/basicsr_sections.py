"""The sections of a BasicSR 1.4.2 option file as pydantic models: every key BasicSR or this package reads.

Each field is optional here (``None``: absent); which keys a run needs depends on training or testing and is
checked by ``basicsr_rules``. ``owner`` says who reads a section: unknown keys in this package's sections are refused
(``extra='forbid'``), in BasicSR's they are warnings. ``train`` and ``val`` belong to the model named by
``model_type`` (``owner = 'model'``): this package's when that model is ``MPRNetModel``. Sections with
``open_arguments`` pass their other keys to a constructor (network, loss, optimizer, scheduler) and are checked
against its signature instead (``registered_types``).
"""
from typing import Any, ClassVar, Dict, List, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import Annotated

from mprnet_plugin.config.option_types import (AnyOf, Bool, Int, ListOf, MappingValue, Number, OneOf, Text,
                                               ValueCheck)

BASICSR = 'basicsr'
PACKAGE = 'mprnet_plugin'
MODEL = 'model'
NO_DEFAULT = object()


def V(check: ValueCheck) -> Any:
    """The annotation of a field checked by ``check``."""
    return Annotated[Any, check]


def doc(description: str, default: Any = NO_DEFAULT) -> Any:
    """A field (absent: ``None``) with its one-line description and, for the reference, the reader's default."""
    extra = {} if default is NO_DEFAULT else {'default': default}
    return Field(None, description=description, json_schema_extra=extra)


class Section(BaseModel):
    """A section BasicSR reads: unknown keys are kept (and reported as warnings)."""

    # ``model_type`` is a BasicSR key, not pydantic's namespace.
    model_config = ConfigDict(extra='allow', protected_namespaces=())
    owner: ClassVar[str] = BASICSR
    open_arguments: ClassVar[bool] = False


class OwnSection(Section):
    """A section only this package reads: unknown keys are refused."""

    model_config = ConfigDict(extra='forbid', protected_namespaces=())
    owner: ClassVar[str] = PACKAGE


def _false_is_off(value: Any) -> Any:
    # ``key: false`` switches an optional sub-section off, as ``~`` does.
    return None if value is False else value


# ------------------------------------------------------------------------------------------------ datasets
class IOBackendOptions(Section):
    """``datasets.<phase>.io_backend``: BasicSR's FileClient."""

    type: V(OneOf('disk', 'lmdb', 'memcached')) = doc('Storage backend of the images.', 'disk')
    db_paths: V(AnyOf(Text(), ListOf(Text()))) = doc('LMDB folders (the dataset sets them from dataroot_*).')
    client_keys: V(AnyOf(Text(), ListOf(Text()))) = doc('Names of the LMDB clients (set by the dataset).')
    readonly: V(Bool()) = doc('Open the LMDB read-only.', True)
    lock: V(Bool()) = doc('LMDB file locking.', False)
    readahead: V(Bool()) = doc('LMDB read-ahead.', False)
    server_list_cfg: V(Text()) = doc('Memcached server list file.')
    client_cfg: V(Text()) = doc('Memcached client configuration file.')
    sys_path: V(Text()) = doc('Folder added to sys.path to import memcached.')


class DatasetOptions(Section):
    """``datasets.<phase>``: one dataset (phase ``train``, ``val``/``val_N`` or ``test_N``)."""

    name: V(Text()) = doc('Name of the set in logs, result folders and metrics files.')
    type: V(Text()) = doc('Registered dataset class (DATASET_REGISTRY), e.g. PairedImageDataset.')
    phase: V(Text()) = doc('Set by BasicSR from the section name (train, val, test).')
    scale: V(Int(ge=1)) = doc('Set by BasicSR from the top-level scale.')
    dataroot_gt: V(Text()) = doc('Folder or LMDB of the ground-truth images.')
    dataroot_lq: V(Text()) = doc('Folder or LMDB of the degraded input images.')
    dataroot_flow: V(Text(null=True)) = doc('Folder of precomputed optical flow (REDS).')
    meta_info_file: V(Text(null=True)) = doc('Text file listing the image names to use.')
    meta_info: V(Text(null=True)) = doc('Meta-information file of the Real-ESRGAN datasets.')
    filename_tmpl: V(Text()) = doc('Input file name from the target name, e.g. {}_x4.', '{}')
    io_backend: Optional[IOBackendOptions] = doc('How the images are read.')
    gt_size: V(Int(gt=0)) = doc('Side of the random training crops (ground-truth scale).')
    use_hflip: V(Bool()) = doc('Random horizontal flips in training.')
    use_rot: V(Bool()) = doc('Random vertical flips and 90-degree rotations in training.')
    mean: V(ListOf(Number(), null=True)) = doc('Per-channel mean to normalise by.')
    std: V(ListOf(Number(), null=True)) = doc('Per-channel standard deviation to normalise by.')
    color: V(OneOf('y', null=True)) = doc('y: use the Y channel only.')
    batch_size_per_gpu: V(Int(ge=1)) = doc('Training batch per process (per GPU).')
    num_worker_per_gpu: V(Int(ge=0)) = doc('Loader worker processes per process; 0 loads in the training process.')
    dataset_enlarge_ratio: V(Int(ge=1, whole=True)) = doc('Repeat the set this many times per epoch.', 1)
    prefetch_mode: V(OneOf('cpu', 'cuda', null=True)) = doc('Prefetch batches on the CPU or to the GPU.', None)
    num_prefetch_queue: V(Int(ge=1)) = doc('Batches prefetched with prefetch_mode: cpu.', 1)
    pin_memory: V(Bool()) = doc('Pinned host memory (needed by prefetch_mode: cuda).', False)
    persistent_workers: V(Bool()) = doc('Keep the loader workers between epochs.', False)
    num_frame: V(Int(ge=-1)) = doc('Frames per video sample; -1: whole sequences (BasicSR\'s recurrent video files).')
    interval_list: V(ListOf(Int(ge=1))) = doc('Frame intervals sampled for video training.')
    random_reverse: V(Bool()) = doc('Randomly reverse the frame order.')
    val_partition: V(Text()) = doc('REDS validation partition (REDS4 or official).')
    test_mode: V(Bool()) = doc('REDS: use the validation partition.')
    cache_data: V(Bool()) = doc('Keep the video test frames in memory.')
    padding: V(OneOf('replicate', 'reflection', 'reflection_circle', 'circle')) = doc('Frame padding at clip ends.')
    use_duf_downsampling: V(Bool()) = doc('DUF test set: down-sample the ground truth with DUF\'s kernel.')
    flip_sequence: V(Bool()) = doc('Vimeo90K: append the reversed sequence.')
    blur_kernel_size: V(Int(ge=1)) = doc('Real-ESRGAN: first blur kernel size.')
    kernel_list: V(ListOf(Text())) = doc('Real-ESRGAN: first blur kernel types.')
    kernel_prob: V(ListOf(Number(ge=0, le=1))) = doc('Real-ESRGAN: probabilities of kernel_list.')
    blur_sigma: V(ListOf(Number(ge=0))) = doc('Real-ESRGAN: first blur sigma range.')
    betag_range: V(ListOf(Number(ge=0))) = doc('Real-ESRGAN: generalized Gaussian beta range.')
    betap_range: V(ListOf(Number(ge=0))) = doc('Real-ESRGAN: plateau beta range.')
    sinc_prob: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: probability of a sinc first blur.')
    blur_kernel_size2: V(Int(ge=1)) = doc('Real-ESRGAN: second blur kernel size.')
    kernel_list2: V(ListOf(Text())) = doc('Real-ESRGAN: second blur kernel types.')
    kernel_prob2: V(ListOf(Number(ge=0, le=1))) = doc('Real-ESRGAN: probabilities of kernel_list2.')
    blur_sigma2: V(ListOf(Number(ge=0))) = doc('Real-ESRGAN: second blur sigma range.')
    betag_range2: V(ListOf(Number(ge=0))) = doc('Real-ESRGAN: second generalized Gaussian beta range.')
    betap_range2: V(ListOf(Number(ge=0))) = doc('Real-ESRGAN: second plateau beta range.')
    sinc_prob2: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: probability of a sinc second blur.')
    final_sinc_prob: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: probability of the final sinc filter.')
    paper: V(Text(null=True)) = doc('mprnet_plugin: row of the paper\'s table shown beside this set in the summary.')
    subsets: V(Text(null=True)) = doc('mprnet_plugin: JSON file {subset: [image names]}, one summary row each.')
    submission: V(OneOf('dnd', null=True)) = doc('mprnet_plugin: dnd bundles the outputs for DND\'s server.')
    strict: V(Bool()) = doc('mprnet_plugin DNDDataset: a crop count other than the benchmark\'s is an error.', False)


# ------------------------------------------------------------------------------------------------ networks
class NetworkOptions(Section):
    """``network_g`` / ``network_d``: a registered network and its constructor arguments."""

    open_arguments: ClassVar[bool] = True
    type: V(Text()) = doc('Registered architecture (ARCH_REGISTRY); the other keys are its __init__ arguments.')


# ------------------------------------------------------------------------------------------------ path
class PathOptions(Section):
    """``path``: weights to load, resuming, and the folders BasicSR sets."""

    pretrain_network_g: V(Text(null=True)) = doc('Checkpoint to load into network_g.', None)
    param_key_g: V(Text(null=True)) = doc('Key of the weights in the checkpoint (params, params_ema, state_dict).',
                                          'params')
    strict_load_g: V(Bool()) = doc('Refuse a checkpoint that does not match network_g exactly.', True)
    pretrain_network_d: V(Text(null=True)) = doc('Checkpoint to load into network_d.', None)
    param_key_d: V(Text(null=True)) = doc('Key of the weights in network_d\'s checkpoint.', 'params')
    strict_load_d: V(Bool()) = doc('Refuse a checkpoint that does not match network_d exactly.', True)
    resume_state: V(Text(null=True)) = doc('Training state (.state) to resume from.', None)
    allow_random_weights: V(Bool()) = doc('mprnet_plugin: test without pretrain_network_g (random weights).', False)
    experiments_root: V(Text()) = doc('Set by BasicSR: experiments/<name>.')
    models: V(Text()) = doc('Set by BasicSR: where checkpoints are saved.')
    training_states: V(Text()) = doc('Set by BasicSR: where training states are saved.')
    log: V(Text()) = doc('Set by BasicSR: where the log file goes.')
    visualization: V(Text()) = doc('Set by BasicSR: where images are saved.')
    results_root: V(Text()) = doc('Set by BasicSR in test mode: results/<name>.')


# ------------------------------------------------------------------------------------------------ train
class OptimizerOptions(Section):
    """``train.optim_g`` / ``optim_d``: the optimizer; other keys go to its constructor."""

    open_arguments: ClassVar[bool] = True
    type: V(Text()) = doc('Optimizer name (Adam for BasicSR\'s models; MPRNetModel also AdamW, SGD, ...).')
    lr: V(Number(ge=0)) = doc('Learning rate (0 freezes the weights).')
    weight_decay: V(Number(ge=0)) = doc('Weight decay.', 0)
    betas: V(ListOf(Number(ge=0, lt=1), length=2)) = doc('Adam\'s coefficients [beta1, beta2].', [0.9, 0.999])
    eps: V(Number(gt=0)) = doc('Adam\'s epsilon.', 1e-8)
    momentum: V(Number(ge=0)) = doc('SGD / RMSprop momentum.', 0)


class SchedulerOptions(Section):
    """``train.scheduler``: the learning-rate schedule; the keys are its constructor's arguments."""

    open_arguments: ClassVar[bool] = True
    type: V(Text()) = doc('MultiStepLR, MultiStepRestartLR, CosineAnnealingRestartLR or (MPRNetModel) '
                          'LinearWarmupCosineLR.')
    milestones: V(ListOf(Int(ge=0, whole=True))) = doc('MultiStep: iterations at which the lr is multiplied by gamma.')
    gamma: V(Number(gt=0)) = doc('MultiStep: the factor at each milestone.', 0.1)
    restarts: V(ListOf(Int(ge=0, whole=True))) = doc('MultiStepRestartLR: iterations of the restarts.', [0])
    periods: V(ListOf(Int(gt=0, whole=True), min_length=1)) = doc('CosineAnnealingRestartLR: length of each cycle.')
    restart_weights: V(ListOf(Number(ge=0))) = doc('Weight of each restart (one per period / restart).', [1])
    eta_min: V(Number(ge=0)) = doc('Cosine schedules: the final learning rate (at most optim_g.lr).')
    warmup_iter: V(Int(ge=0, whole=True)) = doc('LinearWarmupCosineLR: iterations of linear warm-up.', 0)
    total_iter: V(Int(gt=0, whole=True)) = doc('LinearWarmupCosineLR: iteration at which lr reaches eta_min.',
                                               'train.total_iter')


class LossOptions(Section):
    """``train.<name>_opt``: a registered loss; other keys go to its constructor."""

    open_arguments: ClassVar[bool] = True
    type: V(Text()) = doc('Registered loss (LOSS_REGISTRY).')
    loss_weight: V(Number(ge=0)) = doc('Weight of the loss.', 1.0)
    reduction: V(OneOf('none', 'mean', 'sum')) = doc('How the element losses are reduced.', 'mean')


class SaturationJitterOptions(OwnSection):
    """``train.saturation_jitter``: the authors' GoPro augmentation."""

    prob: V(Number(ge=0, le=1)) = doc('Probability per sample.', 1 / 3)
    range: V(ListOf(Number(ge=0), length=2)) = doc('[low, high] saturation factor (low <= high).', [0.8, 1.2])


class MixupOptions(OwnSection):
    """``train.mixup``: the authors' MixUp for denoising."""

    alpha: V(Number(gt=0)) = doc('Beta(alpha, alpha) of the blend weight.', 0.6)
    start_iter: V(Int(ge=0, whole=True)) = doc('First iteration with MixUp.', 0)


class TrainOptions(Section):
    """``train``: the training recipe (this package's keys are read by MPRNetModel)."""

    owner: ClassVar[str] = MODEL
    total_iter: V(Int(gt=0, whole=True)) = doc('Number of training iterations.')
    warmup_iter: V(Int(ge=-1, whole=True)) = doc('BasicSR\'s linear lr warm-up; -1 (or 0) is off.', -1)
    ema_decay: V(Number(ge=0, lt=1)) = doc('Decay of the EMA copy of network_g; 0 keeps none.', 0)
    optim_g: Optional[OptimizerOptions] = doc('Optimizer of network_g.')
    optim_d: Optional[OptimizerOptions] = doc('Optimizer of network_d (GAN models).')
    scheduler: Optional[SchedulerOptions] = doc('Learning-rate schedule; absent: constant (MPRNetModel).')
    pixel_opt: Optional[LossOptions] = doc('Pixel loss (MPRNetModel: MPRNetLoss by default).')
    perceptual_opt: Optional[LossOptions] = doc('Perceptual loss (SRGAN-style models).')
    gan_opt: Optional[LossOptions] = doc('GAN loss (SRGAN-style models).')
    ldl_opt: Optional[LossOptions] = doc('LDL artifact loss (Real-ESRGAN with LDL).')
    feature_matching_opt: Optional[LossOptions] = doc('Feature-matching loss (HiFaceGAN).')
    net_d_iters: V(Int(ge=1)) = doc('GAN models: update network_g every this many iterations.', 1)
    net_d_init_iters: V(Int(ge=0)) = doc('GAN models: iterations training network_d only.', 0)
    dcn_lr_mul: V(Number(ge=0)) = doc('EDVR: lr multiplier of the deformable convolutions.', 1)
    tsa_iter: V(Int(ge=0, whole=True)) = doc('EDVR: iterations training only the TSA module.')
    fix_flow: V(AnyOf(Int(ge=0, whole=True), Bool(), null=True)) = doc('Video models: iterations with the flow '
                                                                        'network frozen.')
    flow_lr_mul: V(Number(ge=0)) = doc('Video models: lr multiplier of the flow network.', 1)
    lr_flow: V(Number(ge=0)) = doc('VideoRecurrentGANModel: lr of the flow network.')
    r1_reg_weight: V(Number(ge=0)) = doc('StyleGAN2: R1 regularisation weight.')
    path_reg_weight: V(Number(ge=0)) = doc('StyleGAN2: path-length regularisation weight.')
    net_g_reg_every: V(Int(ge=1)) = doc('StyleGAN2: regularise network_g every this many iterations.')
    net_d_reg_every: V(Int(ge=1)) = doc('StyleGAN2: regularise network_d every this many iterations.')
    mixing_prob: V(Number(ge=0, le=1)) = doc('StyleGAN2: style-mixing probability.')
    path_batch_shrink: V(Int(ge=1)) = doc('StyleGAN2: batch shrink of the path-length regularisation.')
    grad_clip: V(Number(ge=0, null=True)) = doc('mprnet_plugin: max global gradient norm; 0 or null: off.', 0)
    grad_accumulation: V(Int(ge=1, null=True)) = doc('mprnet_plugin: each batch in N micro-batches (divides '
                                                     'batch_size_per_gpu).', 1)
    amp: V(OneOf('bf16', 'fp16', 'none', 'fp32', 'off', False, null=True)) = doc(
        'mprnet_plugin: mixed precision (bf16 on CUDA or the CPU, fp16 on CUDA only); none: float32.', 'none')
    compile: V(AnyOf(Bool(), MappingValue())) = doc('mprnet_plugin: torch.compile the network for training; a '
                                                    'mapping gives torch.compile\'s arguments.', False)
    identity_init: V(Bool()) = doc('mprnet_plugin: zero the residual output layers so training starts at the input.',
                                   False)
    keep_cpu_heap: V(Bool()) = doc('mprnet_plugin: on the CPU, keep freed memory in the heap (fewer page faults).',
                                   True)
    saturation_jitter: Optional[SaturationJitterOptions] = doc('mprnet_plugin: saturation jitter of each batch; '
                                                               'null or false: off.')
    mixup: Optional[MixupOptions] = doc('mprnet_plugin: MixUp of each batch; null or false: off.')

    _sections_off = field_validator('saturation_jitter', 'mixup', mode='before')(_false_is_off)


# ------------------------------------------------------------------------------------------------ val
class MetricOptions(Section):
    """``val.metrics.<name>``: a registered metric; other keys go to the metric function."""

    type: V(Text()) = doc('Registered metric function (METRIC_REGISTRY), e.g. calculate_psnr.')
    crop_border: V(Int(ge=0)) = doc('Pixels cropped from each border before scoring.')
    test_y_channel: V(Bool()) = doc('Score the Y channel (YCbCr) only.', False)
    better: V(OneOf('higher', 'lower')) = doc('Which way is better, for the best-metric record.', 'higher')
    input_order: V(OneOf('HWC', 'CHW')) = doc('Axis order of the images given to the metric.', 'HWC')


class TileOptions(OwnSection):
    """``val.tile``: restore in blended tiles (an int is the size)."""

    size: V(Int(gt=0)) = doc('Tile side: a positive multiple of the network\'s size multiple.')
    overlap: V(Int(ge=0)) = doc('Overlap between tiles, below size.', 32)


def _tile_shorthand(value: Any) -> Any:
    # ``tile: 256`` is ``tile: {size: 256}``; false is off.
    if isinstance(value, int) and not isinstance(value, bool):
        return {'size': value}
    return _false_is_off(value)


class ValOptions(Section):
    """``val``: validation in training, and the test run."""

    owner: ClassVar[str] = MODEL
    val_freq: V(Int(gt=0, whole=True)) = doc('Validate every this many iterations (training).')
    save_img: V(Bool()) = doc('Save the restored images.')
    suffix: V(Text(null=True)) = doc('Suffix of saved test images; null: the run name (MPRNetModel).', None)
    pbar: V(Bool()) = doc('Show a progress bar.', False)
    metrics: Optional[Dict[str, MetricOptions]] = doc('Metrics by name.')
    tile: Optional[TileOptions] = doc('mprnet_plugin: restore in tiles ({size, overlap} or a size); null: whole '
                                      'images.')
    self_ensemble: V(Bool()) = doc('mprnet_plugin: average the outputs of the 8 flips/rotations of each image '
                                   '(8x the test time).', False)
    save_npy: V(Bool()) = doc('mprnet_plugin, test mode: also save each output as float32 .npy.', False)
    precision: V(OneOf('fp32', 'bf16', 'fp16')) = doc('mprnet_plugin: compute precision of validation and testing; '
                                                      'bf16 on CUDA or the CPU (fast with native bf16), fp16 on '
                                                      'CUDA only.', 'fp32')
    compile: V(Bool()) = doc('mprnet_plugin: torch.compile the network for validation and testing (dynamic shapes; '
                             'eager fall-back).', False)
    center_frame_only: V(Bool()) = doc('Video models: score the centre frame only.', False)
    flip_seq: V(Bool()) = doc('Video recurrent models: also run the flipped sequence.', False)
    num_val_samples: V(Int(ge=1)) = doc('StyleGAN2: samples generated for validation.', 16)

    _tile = field_validator('tile', mode='before')(_tile_shorthand)


# ------------------------------------------------------------------------------------------------ logger, dist
class WandbOptions(Section):
    """``logger.wandb``: Weights & Biases."""

    project: V(Text(null=True)) = doc('W&B project; null: off.', None)
    resume_id: V(Text(null=True)) = doc('W&B run to resume.', None)


class LoggerOptions(Section):
    """``logger``: logging and checkpoints."""

    print_freq: V(Int(gt=0, whole=True)) = doc('Log every this many iterations.')
    save_checkpoint_freq: V(Int(gt=0, whole=True)) = doc('Save a checkpoint every this many iterations.')
    use_tb_logger: V(Bool()) = doc('Write TensorBoard logs to tb_logger/<name>.')
    wandb: Optional[WandbOptions] = doc('Weights & Biases logging.')
    save_safetensors: V(Bool(null=True)) = doc('mprnet_plugin: also save each checkpoint as .safetensors.', False)


class DistOptions(Section):
    """``dist_params``: distributed training."""

    backend: V(OneOf('nccl', 'gloo', 'mpi')) = doc('torch.distributed backend (gloo is used without a GPU).', 'nccl')
    port: V(Int(ge=1, le=65535)) = doc('Rendezvous port (SLURM).', 29500)


# ------------------------------------------------------------------------------------------------ summary
class SummaryAverage(OwnSection):
    """``summary.averages[i]``: the mean of several sets' means."""

    name: V(Text()) = doc('Row name.')
    sets: V(ListOf(Text(), min_length=1)) = doc('datasets.<phase>.name of the sets averaged.')
    paper: V(Text(null=True)) = doc('Row of the paper\'s table shown beside it.')


class SummaryOptions(OwnSection):
    """``summary``: mprnet-test's summary table."""

    averages: Optional[List[SummaryAverage]] = doc('Average rows.')


# ------------------------------------------------------------------------------------------------ top level
class BasicSROptions(Section):
    """A BasicSR option file (top level)."""

    name: V(Text()) = doc('Run name: experiments/<name>, results/<name>.')
    model_type: V(Text()) = doc('Registered model (MODEL_REGISTRY), e.g. MPRNetModel or SRModel.')
    scale: V(Int(ge=1)) = doc('Up-scaling factor (1 for restoration); copied into each dataset.')
    num_gpu: V(AnyOf(Int(ge=0), OneOf('auto'))) = doc('GPUs to use; 0: the CPU; auto: all visible.')
    manual_seed: V(Int(null=True)) = doc('Random seed; absent: a random one.')
    is_train: V(Bool()) = doc('Set by BasicSR: training or testing.')
    dist: V(Bool()) = doc('Set by BasicSR: distributed launcher.')
    rank: V(Int(ge=0)) = doc('Set by BasicSR: this process\'s rank.')
    world_size: V(Int(ge=1)) = doc('Set by BasicSR: number of processes.')
    auto_resume: V(Bool()) = doc('Set by BasicSR from --auto_resume.')
    root_path: V(Text()) = doc('Set by BasicSR\'s train pipeline: the root folder.')
    find_unused_parameters: V(Bool()) = doc('DDP\'s find_unused_parameters.', False)
    custom_imports: V(AnyOf(Text(), ListOf(Text()), MappingValue(), null=True)) = doc(
        'mprnet_plugin: modules imported first so their networks, losses or models register.')
    cudnn_benchmark: V(Bool()) = doc('mprnet_plugin: torch.backends.cudnn.benchmark.', True)
    datasets: Optional[Dict[str, DatasetOptions]] = doc('Datasets by phase: train, val (val_N), test_N.')
    network_g: Optional[NetworkOptions] = doc('The network trained or tested.')
    network_d: Optional[NetworkOptions] = doc('The discriminator (GAN models).')
    path: Optional[PathOptions] = doc('Weights, resuming and folders.')
    train: Optional[TrainOptions] = doc('The training recipe.')
    val: Optional[ValOptions] = doc('Validation and testing.')
    logger: Optional[LoggerOptions] = doc('Logging and checkpoints.')
    dist_params: Optional[DistOptions] = doc('Distributed training.')
    summary: Optional[SummaryOptions] = doc('mprnet_plugin: the test summary table.')
    # Real-ESRGAN's models read their second-order degradation at the top level.
    high_order_degradation: V(Bool()) = doc('Real-ESRGAN: degrade on the GPU in the model.', True)
    queue_size: V(Int(ge=1)) = doc('Real-ESRGAN: size of the training-pair queue.', 180)
    gt_size: V(Int(gt=0)) = doc('Real-ESRGAN: training crop size.')
    gt_usm: V(Bool()) = doc('Real-ESRGAN: sharpen the ground truth.')
    l1_gt_usm: V(Bool()) = doc('Real-ESRGAN: sharpened ground truth for the pixel loss.')
    percep_gt_usm: V(Bool()) = doc('Real-ESRGAN: sharpened ground truth for the perceptual loss.')
    gan_gt_usm: V(Bool()) = doc('Real-ESRGAN: sharpened ground truth for the GAN loss.')
    resize_prob: V(ListOf(Number(ge=0, le=1), length=3)) = doc('Real-ESRGAN: up, down, keep probabilities.')
    resize_range: V(ListOf(Number(gt=0), length=2)) = doc('Real-ESRGAN: resize factor range.')
    gaussian_noise_prob: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: Gaussian (else Poisson) noise probability.')
    noise_range: V(ListOf(Number(ge=0), length=2)) = doc('Real-ESRGAN: Gaussian noise sigma range.')
    poisson_scale_range: V(ListOf(Number(ge=0), length=2)) = doc('Real-ESRGAN: Poisson noise scale range.')
    gray_noise_prob: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: grey noise probability.')
    jpeg_range: V(ListOf(Number(ge=0, le=100), length=2)) = doc('Real-ESRGAN: JPEG quality range.')
    second_blur_prob: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: probability of the second blur.')
    resize_prob2: V(ListOf(Number(ge=0, le=1), length=3)) = doc('Real-ESRGAN: second up, down, keep probabilities.')
    resize_range2: V(ListOf(Number(gt=0), length=2)) = doc('Real-ESRGAN: second resize factor range.')
    gaussian_noise_prob2: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: second Gaussian noise probability.')
    noise_range2: V(ListOf(Number(ge=0), length=2)) = doc('Real-ESRGAN: second Gaussian noise sigma range.')
    poisson_scale_range2: V(ListOf(Number(ge=0), length=2)) = doc('Real-ESRGAN: second Poisson noise scale range.')
    gray_noise_prob2: V(Number(ge=0, le=1)) = doc('Real-ESRGAN: second grey noise probability.')
    jpeg_range2: V(ListOf(Number(ge=0, le=100), length=2)) = doc('Real-ESRGAN: second JPEG quality range.')
    # Old BasicSR test files put these at the top level, where nothing reads them (a warning says so).
    crop_border: V(Int(ge=0, null=True)) = doc('Not read here: BasicSR reads val.metrics.<name>.crop_border.')
    suffix: V(Text(null=True)) = doc('Not read here: BasicSR reads val.suffix.')
    save_img: V(Bool(null=True)) = doc('Not read here: BasicSR reads val.save_img.')


# Top-level keys declared only because BasicSR's own old files carry them; nothing reads them there.
STRAY_TOP_LEVEL_KEYS = {'crop_border': 'val.metrics.<name>.crop_border', 'suffix': 'val.suffix',
                        'save_img': 'val.save_img'}
