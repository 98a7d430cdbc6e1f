"""Neural style transfer on VGG-19 (Gatys et al.), with its reconstructions, sweeps and DeepDream.

Modules: `vgg` (network and Caffe weights), `losses` (content, Gram, TV), `objective` (their weighted sum),
`optim` (the loop, L-BFGS per image of a sweep), `scales` (coarse-to-fine schedule), `plan` (a job's
scales, tiles and memory), `tiles` (overlapping tiles and their blending weights), `tiled` (one scale
optimised tile by tile), `anchor` (refining scales keep the 512 px picture), `imaging` (PIL <-> tensors,
colours, grids), `modes` (the option enums, each mode's defaults), `config` (StyleConfig, StyleResult,
checks), `stylize` (the entry point), `dream` (DeepDream), and `figures` (how a result relates to its
inputs).
"""

from models.nst.config import StyleConfig, StyleResult, resolve_device, resolve_precision
from models.nst.modes import Init, Mode, Optimizer, Pooling, Precision
from models.nst.stylize import stylize
from models.nst.vgg import LAYERS
from models.progress import Canceled, Progress

__all__ = [
    "LAYERS",
    "Canceled",
    "Init",
    "Mode",
    "Optimizer",
    "Pooling",
    "Precision",
    "Progress",
    "StyleConfig",
    "StyleResult",
    "resolve_device",
    "resolve_precision",
    "stylize",
]
