"""The other modes' figures: dream, texture synthesis (mode=style), content reconstruction, each beside its peer.

The peer of each mode's defaults is the same mode at the settings it had before it got defaults of its own
(the transfer's), run in the same invocation. Dream jobs run through the CLI, as a new user would
(`stylewave stylize CONTENT -o OUT --mode dream --size 384`, one process per job, so each time includes
starting Python, importing torch and loading the weights); the dream sweep runs the worker's job body in this
process, and texture synthesis and content reconstruction call `models.nst.stylize`.

    .venv/bin/python benchmarks/modes.py CONTENT STYLE [--out-dir DIR] [--only dream,sweep,style,content]
    .venv/bin/python benchmarks/modes.py CONTENT STYLE --only style --style-seeds 0,1,2   # textures from 3 noises
    .venv/bin/python benchmarks/modes.py CONTENT STYLE --out-dir DIR --figures docs/modes

`--figures` runs nothing: it lays the images of earlier runs in DIR out as the README's small before/after
strips (JPEG), each tile labelled; the content reconstructions as an enlarged crop of the sky, where the
checkerboard was.

Figures (models/nst/figures.py), the content resized to the result's size where they compare pixels:
    seconds      wall time (dream: of the whole CLI process); cpu_s: its CPU time (user + system)
    grey_corr    correlation of the full-resolution grey levels with the content
    saturation   mean HSV saturation (the content's beside it)
    act_gain     the dream layer's mean squared activation over the content's
    change       mean |result - content| in grey levels (0-255): how far the dream went
    layout       correlation of the 8x8 low-pass luminance with the style image's: texture ~0, copy ~1
    style_rel    mean over conv1_1..conv5_1 of |G(out) - G(style)| / |G(style)| (as benchmarks/nst_vs_pastiche.py)
    hf_flat      high-frequency energy (RGB minus its 3x3 box blur, squared) in the photo's flattest quarter
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.schemas import StyleTransferParams  # noqa: E402
from models.nst import Mode, StyleConfig, figures, imaging, stylize  # noqa: E402
from models.nst.vgg import build_vgg  # noqa: E402
from workers.jobs import JobOutput, style_job  # noqa: E402

Row = dict[str, Any]
SWEEP_LAYERS = ["conv2_1", "conv3_1", "conv4_1", "conv5_1"]
# Each mode as it ran before it had defaults of its own: the transfer's.
DREAM_BEFORE = {"iterations": 150, "scales": 3, "content_layers": ["conv4_2"]}
STYLE_BEFORE = {"iterations": 150, "scales": 3, "final_share": 0.25, "coarse_style_scale": 1.0}


def cli_dream(content: Path, out: Path, size: int, fields: dict[str, Any]) -> tuple[float, float, Image.Image]:
    """`stylewave stylize CONTENT -o OUT --mode dream --size SIZE ...` on the CPU: wall and CPU seconds, result."""
    options = [f"--{k.replace('_', '-')}={','.join(v) if isinstance(v, list) else v}" for k, v in fields.items()]
    cmd = [str(Path(sys.executable).parent / "stylewave"), "stylize", str(content), "-o", str(out)]
    cmd += ["--mode", "dream", "--size", str(size), *options]
    print("running: stylewave", " ".join(cmd[2:]), flush=True)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, env={**os.environ, "STYLEWAVE_DEVICE": "cpu"}, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _children_cpu() - cpu0, Image.open(out).convert("RGB")


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: less sensitive to a busy machine than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dream_sweep_job(content: Image.Image, **fields: Any) -> tuple[float, JobOutput]:
    """The job body the worker and the CLI run, in this process: its seconds and output."""
    params = StyleTransferParams.model_validate({"mode": "dream", **fields})
    buf = io.BytesIO()
    content.save(buf, "PNG")
    t0 = time.perf_counter()
    out = style_job(params, buf.getvalue(), [], device="cpu")
    return time.perf_counter() - t0, out


def dream_figures(out: Image.Image, content: Image.Image, layer: str) -> Row:
    base = content.resize(out.size, Image.Resampling.LANCZOS)
    vgg = build_vgg(layer)
    return {
        "grey_corr": figures.grey_correlation(out, content),
        "saturation": figures.mean_saturation(out),
        "content_saturation": figures.mean_saturation(base),
        "act_gain": figures.mean_square_activation(vgg, out, layer) / figures.mean_square_activation(vgg, base, layer),
        "change": figures.mean_abs_difference(out, base),
    }


def dream_rows(content_path: Path, out_dir: Path, size: int) -> list[Row]:
    """The default dream, its peer, and the two ends of dream_strength, each through the CLI."""
    content = Image.open(content_path).convert("RGB")
    runs: dict[str, dict[str, Any]] = {
        "before: 150 steps, 3 scales, conv4_2": DREAM_BEFORE,
        "default": {},
        "dream_strength=0.25": {"dream_strength": 0.25},
        "dream_strength=4": {"dream_strength": 4},
    }
    rows = []
    for i, (name, fields) in enumerate(runs.items()):
        seconds, cpu, out = cli_dream(content_path, out_dir / f"dream{i}.png", size, fields)
        layer = (fields.get("content_layers") or list(Mode.dream.defaults.content_layers))[0]
        rows.append(
            {"run": name, "seconds": seconds, "cpu_s": cpu, "layer": layer, **dream_figures(out, content, layer)}
        )
    return rows


def sweep_rows(content_path: Path, out_dir: Path, size: int) -> list[Row]:
    """One dream sweep over four layers: one labelled grid, and each tile's figures."""
    content = Image.open(content_path).convert("RGB")
    seconds, out = dream_sweep_job(content, size=size, sweep_content_layers=SWEEP_LAYERS)
    (out_dir / "dream_sweep.png").write_bytes(out.outputs["result"])
    grid = Image.open(io.BytesIO(out.outputs["result"]))
    print(f"dream sweep: {seconds:.1f} s, grid {grid.size[0]}x{grid.size[1]}, tiles {out.metrics['tiles']}")
    tiles = [Image.open(io.BytesIO(out.outputs[f"tile{i}"])).convert("RGB") for i in range(len(SWEEP_LAYERS))]
    return [
        {"run": f"sweep tile {label}", "layer": label, **dream_figures(tile, content, label)}
        for label, tile in zip(out.metrics["tiles"], tiles, strict=True)
    ]


def style_rows(style_path: Path, out_dir: Path, size: int, seeds: list[int]) -> list[Row]:
    """Texture synthesis at the mode's defaults and before, per noise seed (`before` is no API field: `stylize`).

    The first seed's images keep the plain names (the README's strips); a job's default seed is 0. CPU seconds
    are this process's.
    """
    style = Image.open(style_path).convert("RGB")
    judge = build_vgg("conv5_1")
    rows = []
    for seed in seeds:
        for name, fields in {"before: style at each scale's size": STYLE_BEFORE, "default": {}}.items():
            config = StyleConfig(mode=Mode.style, size=size, seed=seed, **fields)
            t0, cpu0 = time.perf_counter(), time.process_time()
            image = stylize(None, [style], config, device="cpu").image
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            image.save(out_dir / f"style_{name.split(':')[0]}{'' if seed == seeds[0] else f'_seed{seed}'}.png")
            layout, rel = figures.layout_correlation(image, style), figures.style_rel(judge, image, style)
            rows.append(
                {"run": f"{name} (seed {seed})", "seconds": seconds, "cpu_s": cpu, "layout": layout, "style_rel": rel}
            )
    return rows


def content_rows(content_path: Path, out_dir: Path, size: int) -> list[Row]:
    """Content reconstruction from white noise at conv2_2, at the mode's defaults and before."""
    content = Image.open(content_path).convert("RGB")
    rows = []
    for name, fields in {"before: no TV": {"tv_weight": 0.0}, "default": {}}.items():
        config = StyleConfig(mode=Mode.content, size=size, content_layers=["conv2_2"], **fields)
        t0 = time.perf_counter()
        image = stylize(content, [], config, device="cpu").image
        seconds = time.perf_counter() - t0
        image.save(out_dir / f"content_{name.split(':')[0]}.png")
        flat = figures.flat_mask(content, image.size)
        base = content.resize(image.size, Image.Resampling.LANCZOS)
        rows.append(
            {
                "run": name,
                "seconds": seconds,
                "grey_corr": figures.grey_correlation(image, content),
                "hf_flat": figures.high_frequency_energy(image, flat),
                "photo_hf_flat": figures.high_frequency_energy(base, flat),
            }
        )
    return rows


def table(title: str, rows: list[Row]) -> None:
    keys = [k for k in rows[0] if k != "run"]
    print(f"\n{title}\n{'':38}" + "".join(f"{k:>19}" for k in keys))
    for row in rows:
        cells = "".join(f"{v:>19.3f}" if isinstance(v, float) else f"{v!s:>19}" for k, v in row.items() if k != "run")
        print(f"{row['run']:38}{cells}")


def acceptance(report: dict[str, list[Row]]) -> list[tuple[str, bool]]:
    """The issue's acceptance figures, as (what, met)."""
    checks = []
    if "dream" in report:
        d = {r["run"]: r for r in report["dream"]}
        default, wild = d["default"], d["dream_strength=4"]
        checks += [
            (f"dream grey_corr {default['grey_corr']:.3f} >= 0.8", default["grey_corr"] >= 0.8),
            (
                f"dream saturation {default['saturation']:.3f} <= content's {default['content_saturation']:.3f} + 0.1",
                default["saturation"] <= default["content_saturation"] + 0.1,
            ),
            (f"dream act_gain {default['act_gain']:.2f} >= 2", default["act_gain"] >= 2),
            (f"dream CLI time {default['seconds']:.1f} s <= 10 s", default["seconds"] <= 10),
            (
                f"strength 4 wilder: change {wild['change']:.1f} vs {default['change']:.1f}, "
                f"act_gain {wild['act_gain']:.2f} vs {default['act_gain']:.2f}",
                wild["change"] > 1.5 * default["change"] and wild["act_gain"] > default["act_gain"],
            ),
            (f"strength 4 grey_corr {wild['grey_corr']:.3f} >= 0.5", wild["grey_corr"] >= 0.5),
        ]
    if "style" in report:
        before, default = report["style"][:2]  # the first seed's
        checks += [
            (f"style layout {default['layout']:.3f} <= 0.3", default["layout"] <= 0.3),
            (
                f"style_rel {default['style_rel']:.3f} <= before's {before['style_rel']:.3f}",
                default["style_rel"] <= before["style_rel"],
            ),
        ]
    if "content" in report:
        before, default = report["content"]
        checks += [
            (f"content grey_corr {default['grey_corr']:.3f} >= 0.95", default["grey_corr"] >= 0.95),
            (
                f"content hf_flat {default['hf_flat']:.1f} vs before {before['hf_flat']:.1f} "
                f"(photo {default['photo_hf_flat']:.1f})",
                default["hf_flat"] < 0.5 * before["hf_flat"],
            ),
        ]
    return checks


def write_figures(content_path: Path, style_path: Path, out_dir: Path, dest: Path, height: int = 160) -> None:
    """The README's before/after strips from the images of earlier runs in `out_dir`, as small JPEGs in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    content, style = Image.open(content_path).convert("RGB"), Image.open(style_path).convert("RGB")

    def strip(name: str, tiles: list[tuple[str, Image.Image]], tile_height: int = height) -> None:
        fitted = [(label, im.resize((round(im.width * tile_height / im.height), tile_height))) for label, im in tiles]
        imaging.grid(fitted, columns=len(fitted)).save(dest / name, "JPEG", quality=80, optimize=True)
        print(f"wrote {dest / name} ({(dest / name).stat().st_size // 1024} KiB)")

    def load(name: str) -> Image.Image:
        return Image.open(out_dir / name).convert("RGB")

    labels = ["photo", "before: 150 steps", "default", "dream_strength=0.25", "dream_strength=4"]
    dreams = [load(f"dream{i}.png") for i in (0, 1, 2, 3)]
    strip("dream.jpg", list(zip(labels, [content, *dreams], strict=True)))
    sweep = load("dream_sweep.png")
    sweep.thumbnail((560, 560))
    sweep.save(dest / "dream_sweep.jpg", "JPEG", quality=80, optimize=True)
    strip(
        "texture.jpg",
        [("painting", style), ("before", load("style_before.png")), ("default", load("style_default.png"))],
    )
    recon = [
        ("photo", content),
        ("before: no TV", load("content_before.png")),
        ("default", load("content_default.png")),
    ]
    sky = [(label, im.resize((128, round(128 * im.height / im.width))).crop((0, 0, 64, 32))) for label, im in recon]
    strip("content_sky.jpg", [(label, im.resize((192, 96), Image.Resampling.NEAREST)) for label, im in sky], 96)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("content", type=Path)
    parser.add_argument("style", type=Path)
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks/out/modes")
    parser.add_argument("--only", default="dream,sweep,style,content")
    parser.add_argument("--dream-size", type=int, default=384)
    parser.add_argument("--style-size", type=int, default=256)
    parser.add_argument("--content-size", type=int, default=128)
    parser.add_argument(
        "--style-seeds", default="0", help="noise seeds of the textures (comma list; a job's default: 0)"
    )
    parser.add_argument("--figures", type=Path, help="write the README's strips from DIR's images; run nothing")
    args = parser.parse_args()
    if args.figures is not None:
        write_figures(args.content, args.style, args.out_dir, args.figures)
        return
    args.out_dir.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    report: dict[str, list[Row]] = {}
    if "dream" in only:
        report["dream"] = dream_rows(args.content, args.out_dir, args.dream_size)
    if "sweep" in only:
        report["sweep"] = sweep_rows(args.content, args.out_dir, args.dream_size)
    if "style" in only:
        report["style"] = style_rows(
            args.style, args.out_dir, args.style_size, [int(x) for x in args.style_seeds.split(",")]
        )
    if "content" in only:
        report["content"] = content_rows(args.content, args.out_dir, args.content_size)
    for title, rows in report.items():
        table(f"{title}:", rows)
    print("\nacceptance:")
    for what, met in acceptance(report):
        print(f"  {'yes' if met else 'NO '}  {what}")
    (args.out_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out_dir / 'report.json'} and the images beside it")


if __name__ == "__main__":
    main()
