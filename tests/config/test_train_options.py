"""The shipped training recipes parse with BasicSR's loader and build an MPRNetModel with every option they set."""
from pathlib import Path

import pytest
import torch
import yaml
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401
from mprnet_plugin.models.mprnet_model import MPRNetModel

OPTIONS = Path(__file__).resolve().parents[2] / 'options'
TRAIN_FILES = sorted((OPTIONS / 'train').glob('*.yml'))


def load(path: Path) -> dict:
    from basicsr.utils.options import ordered_yaml
    return yaml.load(path.read_text(), Loader=ordered_yaml()[0])


def test_the_paper_recipes_are_shipped():
    names = {p.name for p in TRAIN_FILES}
    assert {'MPRNet_GoPro.yml', 'MPRNet_Rain13K.yml', 'MPRNet_SIDD.yml', 'MPRNet_finetune_RealBlur-J.yml'} <= names


@pytest.mark.slow
@pytest.mark.parametrize('path', TRAIN_FILES, ids=lambda p: p.name)
def test_recipe_builds_a_model_with_its_options(path):
    opt = load(path)
    assert opt['model_type'] == 'MPRNetModel'
    for phase, dataset in opt['datasets'].items():
        for key in ('dataroot_lq', 'dataroot_gt'):
            assert dataset[key].startswith('datasets/') and dataset[key].endswith('.lmdb'), (phase, key)
    train = opt['train']
    assert train['scheduler']['type'] == 'LinearWarmupCosineLR'
    assert 0 < train['scheduler']['warmup_iter'] < train['total_iter']
    # The same options on a tiny CPU network, without the data and the published weights.
    opt.update(num_gpu=0, is_train=True, dist=False, rank=0, world_size=1)
    opt['network_g'].update(TINY_MPRNET)
    opt['path']['pretrain_network_g'] = None
    opt['train']['amp'] = 'none'  # fp32 here: the CPU trains bf16 too, but this checks the recipe's other options
    model = MPRNetModel(opt)
    assert type(model.optimizer_g).__name__ == train['optim_g']['type']
    batch = 2 * train.get('grad_accumulation', 1)
    model.feed_data({'lq': torch.rand(batch, 3, 32, 32), 'gt': torch.rand(batch, 3, 32, 32)})
    model.optimize_parameters(train['scheduler']['warmup_iter'] + 1)
    assert all(torch.isfinite(torch.tensor(v)) for v in model.get_current_log().values())
