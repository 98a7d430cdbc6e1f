"""Image plumbing for style transfer: PIL <-> tensors, resizing, colour transforms, labelled grids."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont


def fit_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) scaled so the longest edge is `longest`, aspect kept."""
    if width >= height:
        return longest, max(1, round(height * longest / width))
    return max(1, round(width * longest / height)), longest


def pixels_size(width: int, height: int, pixels: float) -> tuple[int, int]:
    """(width, height) with about `pixels` pixels, aspect kept."""
    h = max(1, round(math.sqrt(pixels * height / width)))
    return max(1, round(pixels / h)), h


def at_least(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """`size` = (W, H), scaled up (aspect kept) until its short edge is at least `edge`."""
    w, h = size
    if min(w, h) >= edge:
        return size
    return (edge, max(edge, round(h * edge / w))) if w <= h else (max(edge, round(w * edge / h)), edge)


def shrink(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An RGB image no larger than `size` = (W, H), aspect kept, without holding the original as floats.

    A JPEG is decoded at a reduced scale (`draft`: 1/2 to 1/8); other formats are decoded once, as 8-bit
    pixels, reduced by an integer factor and resampled (Lanczos). So a 40-megapixel upload costs about its
    8-bit pixels once, never a float tensor of its full size.
    """
    try:
        return _shrink(image, size)
    except (OSError, SyntaxError) as exc:  # what Pillow raises for a truncated or corrupt file
        raise ValueError(f"an input image cannot be decoded ({exc})") from exc


def _shrink(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    w, h = size
    if image.width <= w and image.height <= h:
        return image.convert("RGB")
    image.draft("RGB", (w, h))  # JPEG only; a no-op for the other formats
    if image.mode not in ("RGB", "RGBA", "L", "LA"):  # palette, 1-bit, 16-bit: Lanczos needs real channels
        image = image.convert("RGB")
    scale = min(w / image.width, h / image.height, 1.0)
    out = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(out, Image.Resampling.LANCZOS, reducing_gap=3.0).convert("RGB")


def to_tensor(
    image: Image.Image, size: tuple[int, int] | None = None, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """PIL image -> (1, 3, H, W) float32 RGB in [0, 1], resized (Lanczos) to `size` = (W, H) if given."""
    image = image.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    arr = np.array(image, dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).to(device)  # (1, 3, H, W)


def to_image(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] -> PIL RGB image (rounded, clamped)."""
    x = x.detach().float().cpu().reshape(-1, *x.shape[-2:])[:3]  # (3, H, W)
    arr = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a (B, C, H, W) tensor to `size` = (W, H), bicubic with antialiasing when shrinking."""
    if tuple(x.shape[-2:]) == (size[1], size[0]):
        return x
    return F.interpolate(x, size=(size[1], size[0]), mode="bicubic", align_corners=False, antialias=True)


# ITU-R BT.601 luma and the YIQ chroma axes: luminance-only transfer (Gatys et al. 2016, "Preserving
# Color in Neural Artistic Style Transfer") keeps the content's I and Q and takes only Y from the output.
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> YIQ."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ).to(x), x)


def luminance_transfer(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Output's luminance with the content's chrominance (YIQ): output (B, 3, H, W), content (1 or B, 3, H, W),
    both in [0, 1]; one content serves every image of a sweep."""
    out_yiq = rgb_to_yiq(output)  # (B, 3, H, W)
    chroma = rgb_to_yiq(content)[:, 1:].expand(output.shape[0], -1, -1, -1)  # (B, 2, H, W)
    return yiq_to_rgb(torch.cat([out_yiq[:, :1], chroma], dim=1)).clamp(0, 1)


def match_colors(source: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Affine colour transfer: `source` pixels re-coloured to the mean and covariance of `target`'s.

    Uses the symmetric matrix square roots (Gatys et al. 2016, the colour-histogram-matching variant).
    """
    src = source.reshape(3, -1)  # (3, N)
    tgt = target.reshape(3, -1)  # (3, M)
    mu_s, mu_t = src.mean(1, keepdim=True), tgt.mean(1, keepdim=True)  # (3, 1)
    eye = torch.eye(3, dtype=src.dtype, device=src.device)
    cov_s = torch.cov(src) + eps * eye  # (3, 3)
    cov_t = torch.cov(tgt) + eps * eye
    transform = _sqrtm(cov_t) @ torch.linalg.inv(_sqrtm(cov_s))  # (3, 3)
    out = transform @ (src - mu_s) + mu_t  # (3, N)
    return out.reshape(source.shape).clamp(0, 1)


def _sqrtm(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive definite matrix."""
    vals, vecs = torch.linalg.eigh(m)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def grid(
    tiles: list[tuple[str, Image.Image]], columns: int | None = None, pad: int = 4, label_height: int = 16
) -> Image.Image:
    """Lay labelled tiles out row-major on a white sheet, each label drawn under its tile."""
    if not tiles:
        raise ValueError("a grid needs at least one tile")
    n = len(tiles)
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    tw = max(t.width for _, t in tiles)
    th = max(t.height for _, t in tiles)
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, rows * (th + label_height + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (label, tile) in enumerate(tiles):
        x = pad + (i % cols) * (tw + pad)
        y = pad + (i // cols) * (th + label_height + pad)
        sheet.paste(tile.convert("RGB"), (x, y))
        draw.text((x + 2, y + th + 2), label, fill="black", font=font)
    return sheet


def preview(x: torch.Tensor) -> Image.Image:
    """A (B, 3, H, W) batch as one image: the image itself, or an unlabelled grid of the sweep's tiles."""
    tiles = [(str(i), to_image(t)) for i, t in enumerate(x.detach())]
    return tiles[0][1] if len(tiles) == 1 else grid(tiles, label_height=0)
