"""MMEngine's own gradient accumulation (``optim_wrapper.accumulative_counts``): MPRNetRestorer under the Runner."""
import pytest
import torch
from tests.helpers.mmengine_fixtures import make_lmdb_data, write_tiny_config

from mprnet_plugin.checkpoints.reading import load_state_dict_file
from mprnet_plugin.mmengine import train as mm_train

pytestmark = pytest.mark.slow  # see tests/README.md


def test_accumulative_counts_gives_the_weights_of_whole_batches(tmp_path):
    data = make_lmdb_data(tmp_path / 'data')
    weights = {}
    # Two steps of batch 2, and four iterations of batch 1 accumulated in pairs: the same samples in the same order
    # (one seeded sampler, crops drawn in order), so the same two optimizer steps.
    # Four steps of batch 1 on the same samples are the control that the comparison can tell runs apart.
    for name, batch, counts, iters in (('whole', 2, 1, 2), ('accumulated', 1, 2, 4), ('four_steps', 1, 1, 4)):
        config = write_tiny_config(tmp_path / f'{name}.py', data, tmp_path / name, max_iters=iters, interval=iters)
        with open(config, 'a') as fh:
            fh.write(f'''
train_dataloader.update(batch_size={batch})
train_cfg.update(val_interval=100)
model.update(saturation_jitter=None)  # it draws per batch: batches of 1 and 2 would draw differently
param_scheduler = None
# SGD, whose step follows the gradient's scale (Adam's hardly does), so a wrong loss scale would show.
optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
                     accumulative_counts={counts})
''')
        mm_train.train([str(config)])
        weights[name] = load_state_dict_file(tmp_path / name / f'iter_{iters}.pth')
    for key, value in weights['whole'].items():
        torch.testing.assert_close(weights['accumulated'][key], value, rtol=0, atol=2e-6, msg=key)
    assert max(float((weights['four_steps'][k] - v).abs().max()) for k, v in weights['whole'].items()) > 1e-3
