"""How far tiled output is from whole-image output, for MPRNet and for MPRNet-Local, with one trained network.

    .venv/bin/python benchmarks/local_tiling.py --weights demo_output/experiments/MPRNet_demo/models/net_g_latest.pth \
        --data demo_output/data/test --train-size 96 --tiles 96 128 192 256

For each validation pair of ``--data`` (``input.lmdb`` / ``target.lmdb``, as mprnet-prep and mprnet-demo write them)
it restores the image whole and in each tile size (``inference.tiling``, blended overlap), with the network as
trained (global pooling) and converted with ``to_local`` (windows from ``--train-size``), and prints the PSNR of each
tiled result against the whole-image result of the same network, and each against the ground truth.
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Dict, List, Optional

import numpy as np
import torch

import mprnet_plugin  # noqa: F401  (host fixes before basicsr loads)
from basicsr.data import build_dataset
from mprnet_plugin.archs.mprnet_local_arch import to_global, to_local
from mprnet_plugin.checkpoints import build_mprnet_from_checkpoint
from mprnet_plugin.inference.tiling import restore


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [0, 1] images (peak 1), on unrounded values."""
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', required=True)
    parser.add_argument('--data', required=True, help='folder with input.lmdb and target.lmdb')
    parser.add_argument('--train-size', type=int, required=True, help='the training patch size of the weights')
    parser.add_argument('--base-size', type=int, default=None, help='default 1.5 x --train-size')
    parser.add_argument('--tiles', type=int, nargs='+', default=[96, 128, 192, 256])
    parser.add_argument('--overlap', type=int, default=32)
    args = parser.parse_args(argv)

    net = build_mprnet_from_checkpoint(args.weights).eval()
    dataset = build_dataset(dict(name='tiling', type='PairedImageDataset', phase='test', scale=1,
                                 dataroot_lq=f'{args.data}/input.lmdb', dataroot_gt=f'{args.data}/target.lmdb',
                                 io_backend={'type': 'lmdb'}))
    rows: Dict[str, List[float]] = {}
    for i in range(len(dataset)):
        item = dataset[i]
        lq, gt = item['lq'][None], item['gt'][None]
        wholes = {}
        for name, convert in (('MPRNet', to_global), ('MPRNet-Local', to_local)):
            kwargs = dict(train_size=args.train_size, base_size=args.base_size) if convert is to_local else {}
            convert(net, **kwargs)
            with torch.no_grad():
                whole = wholes[name] = restore(net, lq).clamp(0, 1)
                rows.setdefault(f'{name} | whole | vs ground truth', []).append(psnr(whole, gt))
                for tile in args.tiles:
                    tiled = restore(net, lq, tile=tile, overlap=args.overlap).clamp(0, 1)
                    rows.setdefault(f'{name} | tile {tile} | vs whole', []).append(psnr(tiled, whole))
                    rows.setdefault(f'{name} | tile {tile} | vs ground truth', []).append(psnr(tiled, gt))
        rows.setdefault('MPRNet-Local | whole | MPRNet whole', []).append(
            psnr(wholes['MPRNet-Local'], wholes['MPRNet']))
    print(f'{len(dataset)} images ({", ".join(str(tuple(dataset[i]["lq"].shape[1:])) for i in range(len(dataset)))}'
          f'), train_size {args.train_size}, overlap {args.overlap}; mean PSNR (dB) over the images')
    print('| network | restored | PSNR against | mean dB | min dB |')
    print('|---|---|---|---|---|')
    for key, values in rows.items():
        print(f'| {key} | {np.mean(values):.2f} | {min(values):.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
