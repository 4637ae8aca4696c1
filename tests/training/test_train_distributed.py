"""Two-process data-parallel training on the CPU: ``torchrun --nproc_per_node=2 ... --launcher pytorch`` (gloo).

Run by pytest, this file launches itself under torchrun. Run as a script, it registers a model that records, on every
rank, the batches it trained on and its weights at each checkpoint, then calls ``mprnet_plugin.train.main``.
"""
import pytest
import subprocess
import sys
from pathlib import Path

import torch

pytestmark = pytest.mark.slow  # see tests/README.md

PROBE_DIR_KEY = 'rank_probe_dir'


def define_probe_model() -> None:
    """Register ``RankProbeModel``: MPRNetModel that also saves each rank's weights and batch fingerprints."""
    from basicsr.utils.registry import MODEL_REGISTRY

    from mprnet_plugin.models.mprnet_model import MPRNetModel

    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    def counting_allreduce(model, bucket):
        """DDP's own all-reduce, counting the gradient elements it sends."""
        model.reduced += bucket.buffer().numel()
        return allreduce_hook(None, bucket)

    @MODEL_REGISTRY.register()
    class RankProbeModel(MPRNetModel):
        def init_training_settings(self):
            super().init_training_settings()
            self.net_g.register_comm_hook(self, counting_allreduce)
            self.reduced_per_step = []

        def optimize_parameters(self, current_iter):
            self.batches = getattr(self, 'batches', []) + [float(self.lq.double().sum())]
            self.reduced = 0
            super().optimize_parameters(current_iter)
            self.reduced_per_step.append(self.reduced)

        def save(self, epoch, current_iter):
            super().save(epoch, current_iter)
            weights = {k: v.detach().clone() for k, v in self.get_bare_model(self.net_g).state_dict().items()}
            torch.save({'batches': self.batches, 'weights': weights, 'world_size': self.opt['world_size'],
                        'reduced_per_step': self.reduced_per_step,
                        'parameters': sum(p.numel() for p in self.net_g.parameters() if p.requires_grad)},
                       Path(self.opt[PROBE_DIR_KEY]) / f'rank{self.opt["rank"]}_iter{current_iter}.pt')


def test_two_cpu_processes_train_in_lockstep(tmp_path):
    from tests.training.test_train_pipeline import (SUBPROCESS_ENV, paired_dataset, train_options, write_lmdb_pairs,
                                                     write_yml)

    lq, gt = write_lmdb_pairs(tmp_path / 'train', count=8, size=(40, 40), seed=5)
    opt = train_options('ddp_run', {'train': paired_dataset('tiny_lmdb', lq, gt, 'train', backend='lmdb')},
                        total_iter=4, grad_accumulation=2)
    opt['model_type'] = 'RankProbeModel'
    opt[PROBE_DIR_KEY] = str(tmp_path)
    del opt['val']
    yml = write_yml(tmp_path / 'ddp.yml', opt)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', __file__,
           '-opt', str(yml), '--launcher', 'pytorch']
    proc = subprocess.run(cmd, cwd=tmp_path, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f'torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}'

    log = next((tmp_path / 'experiments' / 'ddp_run').glob('train_*.log')).read_text()
    assert 'World size (gpu number): 2' in log
    rank0 = torch.load(tmp_path / 'rank0_iter4.pt', weights_only=True)
    rank1 = torch.load(tmp_path / 'rank1_iter4.pt', weights_only=True)
    assert rank0['world_size'] == rank1['world_size'] == 2
    assert len(rank0['batches']) == len(rank1['batches']) == 4
    assert all(a != b for a, b in zip(rank0['batches'], rank1['batches']))  # each rank saw its own data
    for name, value in rank0['weights'].items():
        assert torch.equal(value, rank1['weights'][name]), name
    # With 2 micro-batches per batch, only the last all-reduces: each gradient is sent once per step.
    assert 'Gradient accumulation: each batch in 2 micro-batches' in log
    assert rank0['reduced_per_step'] == rank1['reduced_per_step'] == [rank0['parameters']] * 4
    # Training moved the weights, and rank 0's checkpoint holds exactly them.
    at2 = torch.load(tmp_path / 'rank0_iter2.pt', weights_only=True)['weights']
    assert not torch.equal(at2['tail.weight'], rank0['weights']['tail.weight'])
    saved = torch.load(tmp_path / 'experiments' / 'ddp_run' / 'models' / 'net_g_4.pth', weights_only=True)['params']
    for name, value in saved.items():
        assert torch.equal(value, rank0['weights'][name]), name


def test_basicsr_srmodel_trains_on_two_cpu_processes(tmp_path):
    """BasicSR's own SRModel and EDSR under torchrun on CPU: the DDP fix reaches every BasicSR model."""
    from tests.training.test_train_pipeline import SUBPROCESS_ENV, paired_dataset, write_lmdb_pairs, write_yml

    lq, gt = write_lmdb_pairs(tmp_path / 'train', count=4, size=(40, 40), seed=8)
    opt = {'name': 'edsr_ddp', 'model_type': 'SRModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 3,
           'datasets': {'train': paired_dataset('tiny_lmdb', lq, gt, 'train', backend='lmdb')},
           'network_g': {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1,
                         'upscale': 1},
           'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
           'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'total_iter': 2, 'warmup_iter': -1,
                     'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
                     'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}},
           'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False},
           'dist_params': {'backend': 'nccl', 'port': 29500}}
    yml = write_yml(tmp_path / 'edsr.yml', opt)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '-m',
           'mprnet_plugin.train', '-opt', str(yml), '--launcher', 'pytorch']
    proc = subprocess.run(cmd, cwd=tmp_path, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f'torchrun failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}'
    log = next((tmp_path / 'experiments' / 'edsr_ddp').glob('train_*.log')).read_text()
    assert 'World size (gpu number): 2' in log and 'iter:       2' in log and 'l_pix: ' in log
    saved = torch.load(tmp_path / 'experiments' / 'edsr_ddp' / 'models' / 'net_g_latest.pth', weights_only=True)
    assert 'conv_first.weight' in saved['params']


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_slurm_launcher_starts_two_cpu_tasks(tmp_path):
    """What srun does: one process per task with SLURM_* variables; the launcher derives rank and master from them."""
    import os
    import stat

    from tests.training.test_train_pipeline import (SUBPROCESS_ENV, paired_dataset, train_options, write_lmdb_pairs,
                                                     write_yml)

    lq, gt = write_lmdb_pairs(tmp_path / 'train', count=4, size=(40, 40), seed=6)
    opt = train_options('slurm_run', {'train': paired_dataset('tiny_lmdb', lq, gt, 'train', backend='lmdb')},
                        total_iter=2)
    del opt['val']
    opt['dist_params']['port'] = free_port()
    yml = write_yml(tmp_path / 'slurm.yml', opt)
    # SLURM's scontrol resolves the node list to host names; this one answers for a single local node.
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'scontrol').write_text('#!/bin/sh\necho 127.0.0.1\n')
    (bin_dir / 'scontrol').chmod(stat.S_IRWXU)
    procs = []
    for rank in range(2):
        env = {**SUBPROCESS_ENV, 'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', 'SLURM_PROCID': str(rank),
               'SLURM_NTASKS': '2', 'SLURM_LOCALID': str(rank), 'SLURM_NODELIST': 'node001'}
        procs.append(subprocess.Popen([sys.executable, '-m', 'mprnet_plugin.train', '-opt', str(yml), '--launcher',
                                       'slurm'], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = [proc.communicate(timeout=400)[0] for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], '\n'.join(o[-4000:] for o in outputs)
    log = next((tmp_path / 'experiments' / 'slurm_run').glob('train_*.log')).read_text()
    assert 'World size (gpu number): 2' in log and 'iter:       2' in log
    assert (tmp_path / 'experiments' / 'slurm_run' / 'models' / 'net_g_latest.pth').is_file()


if __name__ == '__main__':
    import mprnet_plugin  # noqa: F401
    from mprnet_plugin.train import main

    define_probe_model()
    sys.exit(main())
