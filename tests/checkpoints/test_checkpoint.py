"""Every checkpoint layout loads strictly; bad files get errors naming the file and the first bad keys."""
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import (CheckpointError, MPRNet, build_mprnet_from_checkpoint, infer_mprnet_config,
                           load_mprnet_checkpoint)


@pytest.fixture
def tiny_state():
    return MPRNet(**TINY_MPRNET).state_dict()


def _assert_same(model, state):
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


@pytest.mark.slow
@pytest.mark.parametrize('layout', ['authors', 'authors_dataparallel', 'basicsr', 'basicsr_ema', 'bare', 'mmengine'])
def test_layouts_round_trip(tmp_path, tiny_state, layout):
    state = tiny_state
    wrapped = {
        'authors': {'state_dict': state, 'epoch': 3},
        'authors_dataparallel': {'state_dict': {f'module.{k}': v for k, v in state.items()}, 'epoch': 3},
        'basicsr': {'params': state},
        'basicsr_ema': {'params_ema': state, 'params': {k: torch.zeros_like(v) for k, v in state.items()}},
        'bare': state,
        'mmengine': {'meta': {'iter': 5}, 'state_dict': {**{f'generator.{k}': v for k, v in state.items()},
                                                        'data_preprocessor.mean': torch.zeros(3)}},
    }[layout]
    path = tmp_path / 'ckpt.pth'
    torch.save(wrapped, path)
    model = load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), path, strict=True)
    _assert_same(model, state)
    built = build_mprnet_from_checkpoint(path)
    assert built.config == infer_mprnet_config(state)
    _assert_same(built, state)


def test_explicit_key_selects_weights(tmp_path, tiny_state):
    zeros = {k: torch.zeros_like(v) for k, v in tiny_state.items()}
    torch.save({'params_ema': tiny_state, 'params': zeros}, tmp_path / 'c.pth')
    model = load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'c.pth', key='params')
    _assert_same(model, zeros)
    with pytest.raises(CheckpointError, match="has no key 'nope'"):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'c.pth', key='nope')


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'\x00not a checkpoint' * 10)
    with pytest.raises(CheckpointError, match='broken.pth'):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), path)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'missing.pth')


def test_other_architecture_is_refused_with_keys(tmp_path):
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 3, 3)).state_dict()
    torch.save({'params': other}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match=r"other.pth.*missing keys: shallow_feat1\.0\.weight.*unexpected keys: 0"):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match='not an MPRNet checkpoint'):
        build_mprnet_from_checkpoint(tmp_path / 'other.pth')


def test_shape_mismatch_names_first_keys(tmp_path, tiny_state):
    torch.save({'state_dict': tiny_state}, tmp_path / 'tiny.pth')
    with pytest.raises(CheckpointError, match=r'tiny.pth.*shape mismatches: shallow_feat1\.0\.weight: checkpoint '
                                              r'\(8, 3, 3, 3\), model \(40, 3, 3, 3\)'):
        load_mprnet_checkpoint(MPRNet(preset='deraining'), tmp_path / 'tiny.pth')
    # Not strict loads what fits and warns, naming the layers it skipped.
    with pytest.warns(UserWarning, match=r'tiny.pth.*skipped.*shape mismatches: shallow_feat1\.0\.weight'):
        load_mprnet_checkpoint(MPRNet(preset='deraining'), tmp_path / 'tiny.pth', strict=False)


def test_file_that_is_not_a_dict(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    with pytest.raises(CheckpointError, match='holds a list, expected a dict'):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'list.pth')


def test_mmengine_checkpoint_with_log_buffers_and_numpy(tmp_path, tiny_state):
    import numpy as np
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer()
    buffer.update(0.5)
    torch.save({'meta': {'seed': np.int64(3), 'arr': np.arange(3)}, 'message_hub': {'loss': buffer},
                'state_dict': {f'generator.{k}': v for k, v in tiny_state.items()}}, tmp_path / 'iter_5.pth')
    _assert_same(load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'iter_5.pth'), tiny_state)


class NeedsGetattr:
    """Pickles as ``getattr(OrderedDict, 'fromkeys')``: a file that needs getattr to load."""

    def __reduce__(self):
        import collections
        return (getattr, (collections.OrderedDict, 'fromkeys'))


@pytest.fixture
def crafted(tmp_path, tiny_state):
    path = tmp_path / 'crafted.pth'
    torch.save({'params': tiny_state, 'extra': NeedsGetattr()}, path)
    assert 'builtins.getattr' in torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    return path


def test_a_checkpoint_that_needs_getattr_is_refused(crafted):
    from mprnet_plugin.checkpoints.reading import read_checkpoint
    with pytest.raises(CheckpointError, match=r"crafted.pth' refused: it calls getattr\(OrderedDict, 'fromkeys'\)"):
        read_checkpoint(crafted)
    with pytest.raises(CheckpointError, match='refused'):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), crafted)
    admitted = torch.serialization.get_safe_globals()  # nothing stays admitted after that one attempt
    assert getattr not in admitted and not any(isinstance(g, tuple) for g in admitted)


def test_getattr_refused_for_pretrain_network_g_and_mprnet_infer(tmp_path, crafted, capsys):
    from tests.models.test_model_mprnet import MPRNetModel, model_options

    from mprnet_plugin.cli import infer as infer_cli
    with pytest.raises(CheckpointError, match='refused.*getattr'):
        MPRNetModel(model_options(path={'pretrain_network_g': str(crafted)}))
    (tmp_path / 'in').mkdir()
    import numpy as np

    from mprnet_plugin.io.images import write_image
    write_image(tmp_path / 'in' / 'a.png', np.zeros((16, 16, 3), np.uint8))
    code = infer_cli.main(['--weights', str(crafted), '--input', str(tmp_path / 'in'), '--output',
                           str(tmp_path / 'out'), '--device', 'cpu'])
    assert code == 2 and not (tmp_path / 'out' / 'a.png').exists()


def test_directory_and_empty_file_are_named_as_such(tmp_path):
    from mprnet_plugin.checkpoints.reading import read_checkpoint
    (tmp_path / 'weights').mkdir()
    with pytest.raises(CheckpointError, match=r"weights' is a directory; expected a checkpoint file"):
        read_checkpoint(tmp_path / 'weights')
    (tmp_path / 'empty.pth').write_bytes(b'')
    with pytest.raises(CheckpointError, match=r"empty.pth' is empty \(0 bytes\)"):
        read_checkpoint(tmp_path / 'empty.pth')
