"""DND: nothing to convert (no ground truth, scored by the server); check the files ``DNDDataset`` reads."""
from __future__ import annotations

from tqdm import tqdm

from mprnet_plugin.data.dnd_dataset import (DND_CROPS_PER_IMAGE, DND_IMAGES, check_dnd_boxes, read_dnd_boxes,
                                           resolve_dnd_root)
from mprnet_plugin.data.pairing import check_count
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult

SPLITS = ('test',)


def prepare(opts: PrepOptions) -> PrepResult:
    """Check ``info.mat``, that every image file exists and holds its 20 boxes; writes nothing."""
    root = resolve_dnd_root(opts.src)
    boxes = read_dnd_boxes(root)
    ok = check_count('DND images in info.mat', len(boxes), DND_IMAGES, opts.strict)
    for image, image_boxes in enumerate(tqdm(boxes, desc='DND images', unit='image', dynamic_ncols=True), 1):
        check_dnd_boxes(root, image, image_boxes)
    return PrepResult(outputs={str(root): len(boxes) * DND_CROPS_PER_IMAGE}, counts_ok=ok)
