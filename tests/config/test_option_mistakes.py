"""One test per class of mistake in a BasicSR option file: each is refused in one line naming the option."""
import re

import pytest

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.config import basicsr_rules
from mprnet_plugin.config.basicsr_schema import validate_basicsr_options
from mprnet_plugin.errors import OptionError


def refused(opt, match, testing=False):
    """The OptionError message validating ``opt`` gives; it must match ``match`` and be one line."""
    with pytest.raises(OptionError, match=match) as info:
        validate_basicsr_options(opt, testing=testing, source='options.yml')
    assert '\n' not in str(info.value)
    return str(info.value)


def validates(opt, testing=False):
    return validate_basicsr_options(opt, testing=testing, source='options.yml')


# ------------------------------------------------------------------------------------------- strict values
@pytest.mark.parametrize('where, key, value', [
    ('train', 'identity_init', 'no'),
    ('train', 'compile', 'fast'),
    ('train', 'keep_cpu_heap', 'yes'),
    ('datasets.train', 'use_hflip', 'true'),
    ('logger', 'use_tb_logger', 1),
])
def test_text_or_numbers_are_not_booleans(train_opt, where, key, value):
    holder = train_opt
    for part in where.split('.'):
        holder = holder[part]
    holder[key] = value
    message = refused(train_opt, rf'^{re.escape(where)}\.{key}: ')
    assert 'expected true or false' in message


def test_yaml_float_text_gets_a_hint(train_opt):
    train_opt['train']['optim_g']['lr'] = '1e-4'
    message = refused(train_opt, r"^train\.optim_g\.lr: '1e-4' \(text\); expected a number >= 0")
    assert message.endswith('(YAML reads 1e-4 as text: write 1.0e-4)')


@pytest.mark.parametrize('value', [True, 'four', 4.5])
def test_an_integer_is_an_int(train_opt, value):
    train_opt['datasets']['train']['batch_size_per_gpu'] = value
    refused(train_opt, r'^datasets\.train\.batch_size_per_gpu: .*; expected an integer >= 1')


def test_iteration_counts_take_whole_floats(train_opt):
    train_opt['logger']['save_checkpoint_freq'] = 1e2  # BasicSR's files write !!float 5e3
    assert validates(train_opt) == []
    train_opt['logger']['save_checkpoint_freq'] = 12.5
    refused(train_opt, r'^logger\.save_checkpoint_freq: 12\.5; expected a whole number > 0')


# ------------------------------------------------------------------------------------------- ranges
@pytest.mark.parametrize('path, value, expected', [
    ('train.ema_decay', 1.0, 'a number in [0, 1)'),
    ('train.ema_decay', -0.1, 'a number in [0, 1)'),
    ('datasets.train.gt_size', 0, 'an integer > 0'),
    ('datasets.train.batch_size_per_gpu', 0, 'an integer >= 1'),
    ('datasets.train.num_worker_per_gpu', -1, 'an integer >= 0'),
    ('num_gpu', -1, "an integer >= 0 or one of 'auto'"),
    ('num_gpu', 'all', "an integer >= 0 or one of 'auto'"),
    ('train.total_iter', 0, 'a whole number > 0'),
    ('train.optim_g.lr', -0.1, 'a number >= 0'),
    ('train.optim_g.weight_decay', -1, 'a number >= 0'),
    ('logger.print_freq', 0, 'a whole number > 0'),
    ('logger.save_checkpoint_freq', -5, 'a whole number > 0'),
    ('train.grad_accumulation', 0, 'an integer >= 1 or null'),
    ('train.amp', 'fp8', "one of 'bf16', 'fp16'"),
])
def test_values_out_of_range(train_opt, path, value, expected):
    *parents, key = path.split('.')
    holder = train_opt
    for part in parents:
        holder = holder[part]
    holder[key] = value
    message = refused(train_opt, rf'^{re.escape(path)}: ')
    assert f'expected {expected}' in message


def test_metric_crop_border_and_val_freq(train_opt):
    train_opt['datasets']['val'] = {'name': 'v', 'type': 'PairedImageDataset', 'dataroot_gt': 'g', 'dataroot_lq': 'l',
                                    'io_backend': {'type': 'disk'}}
    train_opt['val'] = {'val_freq': 0, 'save_img': False}
    refused(train_opt, r'^val\.val_freq: 0; expected a whole number > 0')
    train_opt['val'] = {'val_freq': 10, 'save_img': False,
                        'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': -1}}}
    refused(train_opt, r'^val\.metrics\.psnr\.crop_border: -1; expected an integer >= 0')


def test_a_section_must_be_a_mapping(train_opt):
    train_opt['train']['optim_g'] = 'Adam'
    refused(train_opt, r"^train\.optim_g: 'Adam' \(text\); expected a mapping")


def test_not_a_mapping_names_the_source():
    refused(['name'], r"^options\.yml: \['name'\]; expected a mapping of options")


def test_required_keys_per_run(train_opt, test_opt):
    del train_opt['train']['total_iter']
    refused(train_opt, r'^train\.total_iter: missing; expected')
    del test_opt['val']
    refused(test_opt, r'^val: missing; expected a val section', testing=True)


# ------------------------------------------------------------------------------------------- rules between keys
def test_eta_min_at_most_the_lr(train_opt):
    train_opt['train']['optim_g']['lr'] = 2e-4
    train_opt['train']['scheduler']['eta_min'] = 0.01
    message = refused(train_opt, r'^train\.scheduler\.eta_min')
    assert message == ('train.scheduler.eta_min: 0.01 is above train.optim_g.lr 0.0002; expected at most the '
                       'learning rate')


def test_warmup_shorter_than_the_run(train_opt):
    train_opt['train']['scheduler'] = {'type': 'CosineAnnealingRestartLR', 'periods': [700], 'eta_min': 1e-7}
    train_opt['train']['warmup_iter'] = 700
    refused(train_opt, r'^train\.warmup_iter: 700 is not below train\.total_iter 700')
    train_opt['train']['warmup_iter'] = -1
    assert validates(train_opt) == []


def test_scheduler_warmup_shorter_than_its_schedule(train_opt):
    train_opt['train']['scheduler']['warmup_iter'] = 800
    refused(train_opt, r"^train\.scheduler\.warmup_iter: 800 is not below the schedule's total 700")


def test_two_warmups_conflict(train_opt):
    train_opt['train']['warmup_iter'] = 10
    refused(train_opt, r'^train\.warmup_iter: 10 with LinearWarmupCosineLR')


def test_cosine_periods_sum_to_the_run_and_match_the_weights(train_opt):
    scheduler = {'type': 'CosineAnnealingRestartLR', 'periods': [300, 300], 'restart_weights': [1, 1],
                 'eta_min': 1e-7}
    train_opt['train']['scheduler'] = scheduler
    refused(train_opt, r'^train\.scheduler\.periods: sum 600 is below train\.total_iter 700')
    scheduler['periods'] = [400, 300]
    assert validates(train_opt) == []
    scheduler['restart_weights'] = [1]
    refused(train_opt, r'^train\.scheduler\.restart_weights: 1 weight\(s\) for 2 period\(s\)')
    scheduler['restart_weights'] = [1, 0.5]
    scheduler['periods'] = [400, 400]
    assert validates(train_opt) == ['train.scheduler.periods: sum 800 is above train.total_iter 700: the run stops '
                                    'before the schedule ends']


def test_grad_accumulation_divides_the_batch(train_opt):
    train_opt['train']['grad_accumulation'] = 3  # the demo's batch is 4
    refused(train_opt, r'^train\.grad_accumulation: 3 does not divide datasets\.train\.batch_size_per_gpu 4')
    train_opt['train']['grad_accumulation'] = 2
    assert validates(train_opt) == []


def test_crop_size_fits_the_network(train_opt):
    train_opt['datasets']['train']['gt_size'] = 100
    refused(train_opt, r'^datasets\.train\.gt_size: 100 is not a multiple of 8')


def test_tile_fits_the_network(test_opt):
    test_opt['val']['tile'] = {'size': 100, 'overlap': 16}
    refused(test_opt, r'^val\.tile\.size: 100; expected a positive multiple of 8', testing=True)
    test_opt['val']['tile'] = {'size': 128, 'overlap': 128}
    refused(test_opt, r'^val\.tile\.overlap: 128 is not below val\.tile\.size 128', testing=True)
    test_opt['val']['tile'] = 256
    assert validates(test_opt, testing=True) == []


def test_self_ensemble_is_a_strict_boolean(test_opt):
    test_opt['val']['self_ensemble'] = 'yes'
    assert 'expected true or false' in refused(test_opt, r'^val\.self_ensemble: ', testing=True)
    test_opt['val']['self_ensemble'] = True
    assert validates(test_opt, testing=True) == []


def test_cuda_prefetch_needs_pinned_memory(train_opt):
    train_opt['datasets']['train']['prefetch_mode'] = 'cuda'
    refused(train_opt, r'^datasets\.train\.pin_memory: null with prefetch_mode: cuda; expected true')


def test_fp16_needs_a_gpu_and_bf16_trains_on_the_cpu(train_opt, monkeypatch):
    train_opt['train']['amp'] = 'fp16'
    refused(train_opt, r"^train\.amp: 'fp16' \(text\) with num_gpu: 0; expected bf16 or none on the CPU")
    train_opt['train']['amp'] = 'bf16'
    monkeypatch.setattr(basicsr_rules, 'cpu_has_native_bf16', lambda: True)
    assert validates(train_opt) == []
    monkeypatch.setattr(basicsr_rules, 'cpu_has_native_bf16', lambda: False)
    assert validates(train_opt) == ['train.amp: bf16 on this CPU is emulated and slow (no avx512_bf16 or amx_bf16): '
                                    'fp32 may well be faster']


def test_testing_needs_weights(test_opt):
    test_opt['path']['pretrain_network_g'] = None
    refused(test_opt, r'^path\.pretrain_network_g: null; expected the checkpoint', testing=True)
    test_opt['path']['allow_random_weights'] = True
    assert validates(test_opt, testing=True) == []


# ------------------------------------------------------------------------------------------- registered types
@pytest.mark.parametrize('path, value, match', [
    ('model_type', 'MPRNetModl', r"^model_type: 'MPRNetModl' \(text\) is not a registered model \(did you mean "
                                 r"MPRNetModel\?\); expected one of .*SRModel"),
    ('network_g.type', 'MPRNett', r"^network_g\.type: 'MPRNett' \(text\) is not a registered network \(did you "
                                  r"mean MPRNet\?\)"),
    ('train.pixel_opt.type', 'MPRNetLos', r"^train\.pixel_opt\.type: .* is not a registered loss \(did you mean "
                                          r"MPRNetLoss\?\)"),
    ('datasets.train.type', 'PairedImageDataSet', r"^datasets\.train\.type: .* is not a registered dataset \(did "
                                                  r"you mean PairedImageDataset\?\)"),
    ('train.optim_g.type', 'Adagrad', r"^train\.optim_g\.type: 'Adagrad' .* not a registered optimizer of "
                                      r"MPRNetModel; expected one of Adam, AdamW"),
    ('train.scheduler.type', 'CosineLR', r"^train\.scheduler\.type: 'CosineLR' .* scheduler of MPRNetModel.*"
                                         r"LinearWarmupCosineLR"),
])
def test_unregistered_types(train_opt, path, value, match):
    *parents, key = path.split('.')
    holder = train_opt
    for part in parents:
        holder = holder[part]
    holder[key] = value
    refused(train_opt, match)


def test_unregistered_metric(test_opt):
    test_opt['val']['metrics']['psnr']['type'] = 'calculate_psnrr'
    refused(test_opt, r"^val\.metrics\.psnr\.type: .* not a registered metric \(did you mean calculate_psnr\?\)",
            testing=True)


def test_basicsr_models_take_only_their_own_optimizers(train_opt):
    train_opt['model_type'] = 'SRModel'
    train_opt['train']['scheduler'] = {'type': 'CosineAnnealingRestartLR', 'periods': [700], 'eta_min': 1e-7}
    del train_opt['train']['identity_init']  # MPRNetModel's key: a warning for SRModel
    train_opt['train']['optim_g']['type'] = 'AdamW'
    refused(train_opt, r"^train\.optim_g\.type: 'AdamW' .* optimizer of BasicSR's models .*; expected one of Adam$")
    train_opt['train']['optim_g']['type'] = 'Adam'
    train_opt['train']['scheduler']['type'] = 'LinearWarmupCosineLR'
    refused(train_opt, r"^train\.scheduler\.type: .* scheduler of BasicSR's models")


def test_optimizer_and_loss_arguments(train_opt):
    train_opt['train']['optim_g']['beta'] = [0.9, 0.99]
    refused(train_opt, r'^train\.optim_g\.beta: unknown argument of optimizer Adam \(did you mean betas\?\)')
    del train_opt['train']['optim_g']['beta']
    train_opt['train']['pixel_opt']['reduction'] = 'mean'
    refused(train_opt, r'^train\.pixel_opt\.reduction: unknown argument of loss MPRNetLoss')


# ------------------------------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize('where, key, closest', [
    ('train', 'grad_acumulation', 'grad_accumulation'),
    ('train', 'identity_inti', 'identity_init'),
    ('val', 'tiles', 'tile'),
])
def test_unknown_key_in_our_section(train_opt, where, key, closest):
    train_opt.setdefault(where, {})[key] = 1
    message = refused(train_opt, rf'^{where}\.{key}: unknown key \(did you mean {closest}\?\); expected one of the '
                                 'keys MPRNetModel reads')
    assert closest in message.split('reads in')[1]


def test_unknown_key_in_a_package_only_section(train_opt):
    train_opt['train']['saturation_jitter'] = {'probs': 0.3}
    refused(train_opt, r'^train\.saturation_jitter\.probs: unknown key \(did you mean prob\?\); expected one of '
                       'the keys mprnet_plugin reads in train.saturation_jitter: prob, range$')


def test_unknown_key_in_a_host_section_is_a_warning(train_opt):
    train_opt['datasets']['train']['gt_sise'] = 96
    train_opt['logger']['print_frequency'] = 5
    train_opt['use_static_graph'] = True
    assert validates(train_opt) == [
        'datasets.train.gt_sise: unknown key, not read by BasicSR or mprnet_plugin (did you mean gt_size?)',
        'logger.print_frequency: unknown key, not read by BasicSR or mprnet_plugin (did you mean print_freq?)',
        'use_static_graph: unknown key, not read by BasicSR or mprnet_plugin',
    ]


def test_basicsr_models_own_train_keys_as_warnings(train_opt):
    train_opt['model_type'] = 'SRModel'
    train_opt['train']['scheduler'] = {'type': 'CosineAnnealingRestartLR', 'periods': [700], 'eta_min': 1e-7}
    train_opt['train']['grad_acumulation'] = 2
    assert validates(train_opt) == ['train.grad_acumulation: unknown key, not read by BasicSR or mprnet_plugin '
                                    '(did you mean grad_accumulation?)']


# ------------------------------------------------------------------------------------------- network arguments
def test_even_kernel_size(train_opt):
    train_opt['network_g']['kernel_size'] = 4
    refused(train_opt, r'^network_g\.kernel_size: 4; expected an odd positive integer')
    with pytest.raises(ValueError, match='kernel_size must be an odd positive integer'):
        MPRNet(kernel_size=4)


def test_reduction_above_the_width(train_opt):
    train_opt['network_g']['reduction'] = 64  # the demo's n_feat is 16
    refused(train_opt, r'^network_g\.reduction: 64; expected at most n_feat \(16\)')
    with pytest.raises(ValueError, match='reduction must be at most n_feat'):
        MPRNet(n_feat=16, reduction=64)


def test_unknown_network_argument(train_opt):
    train_opt['network_g']['n_feats'] = 16
    refused(train_opt, r'^network_g\.n_feats: unknown argument of network MPRNet \(did you mean n_feat\?\); '
                       'expected one of in_c, out_c, n_feat')


def test_missing_network_argument(train_opt):
    train_opt['network_g'] = {'type': 'ECBSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_block': 4, 'num_channel': 16,
                              'with_idt': False, 'act_type': 'prelu'}
    refused(train_opt, r'^network_g\.scale: missing; expected the required argument scale of network ECBSR')


def test_network_argument_types(train_opt):
    train_opt['network_g']['bias'] = 'no'
    refused(train_opt, r"^network_g\.bias: 'no' \(text\); expected true or false")
    train_opt['network_g']['bias'] = False
    train_opt['network_g']['grad_checkpointing'] = 'all'
    refused(train_opt, r"^network_g\.grad_checkpointing: 'all' \(text\); expected false, true, 'cab' or 'stage'")


def test_local_network_sizes(test_opt):
    test_opt['network_g'] = {'type': 'MPRNetLocal', 'preset': 'deblurring', 'train_size': 100}
    refused(test_opt, r'^network_g\.train_size: 100; expected sizes that are multiples of 8', testing=True)
    test_opt['network_g']['train_size'] = [256, 256]
    test_opt['network_g']['kernel_size'] = 2
    refused(test_opt, r'^network_g\.kernel_size: 2; expected an odd', testing=True)
