"""Benchmark of the cutout CNNs: inference end to end from the cutout cache vs the bare
model on random tensors, and training samples per second (issue 12).

    python bench/cnn.py [--sizes 32,112] [--arch resnet18,vgg19bn] [--n 256] [--width 1]
                        [--threads 2] [--json FILE]

End to end = read the stamps of ``n`` sources from the HDF5 cache (``CutoutCache.get``),
normalise them (``normalise``, asinh) and classify them (``cnn_train.predict_proba``), the
path of ``clustercat ml predict`` after the cutouts are cached. Bare = the same network's
forward pass on a random tensor already in memory, same batch size. The aim: end to end
>= 70 % of bare. Training = forward + backward + Adam step on random batches of 32.
ResNet18 uses its small-input stem (3x3/1, no max-pool) at <= 64 px, the ImageNet stem above.
Rates are the best of ``--repeats`` timed calls after a warm-up (training: one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from clustercat.processing import cnn_train
from clustercat.processing.cutouts import BANDS, CutoutCache, normalise
from clustercat.processing.networks import build_network
from rich.console import Console
from rich.table import Table

BATCH = 64


def _rate(n: int, fn, repeats: int = 3) -> float:  # noqa: ANN001
    """Items per second of ``fn`` (n items per call): the best of ``repeats`` timed calls
    after a warm-up (the CPU is shared; the best run is the least disturbed)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def bench_one(arch: str, px: int, n: int, width: float, cache_dir: Path, repeats: int = 5) -> dict:
    rng = np.random.default_rng(0)
    side = 512
    images = [rng.normal(0, 1, (side, side)).astype(np.float32) for _ in BANDS]
    sha = {b: f"{k:064x}{px:08x}"[-64:] for k, b in enumerate(BANDS, start=1)}
    cache = CutoutCache(cache_dir, sha, px)
    ids = np.arange(n, dtype=np.int64)
    x_pos, y_pos = rng.uniform(0, side, n), rng.uniform(0, side, n)
    cache.get(ids, images=images, x=x_pos, y=y_pos)  # fill the cache (not timed)
    # one view per stamp, like the bare pass (test-time augmentation would be 8 views)
    settings = cnn_train.TrainSettings(width=width, small_input=px <= 64, test_time_augment=False)
    torch.manual_seed(0)
    net = build_network(arch, width=width, small_input=settings.small_input, size_px=px)
    trained = cnn_train.TrainedNetwork(arch, "classification", len(BANDS), px, settings,
                                       {k: v.detach().clone() for k, v in
                                        net.state_dict().items()})  # fmt: skip
    model = trained.network()
    bare_x = torch.randn(n, len(BANDS), px, px)

    @torch.no_grad()
    def bare() -> None:
        for i in range(0, n, BATCH):
            model(bare_x[i : i + BATCH])

    def end_to_end() -> None:
        stack = cache.get(ids)
        cnn_train.predict_proba(trained, normalise(stack.pixels, "asinh"), batch_size=BATCH)

    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batch_x, batch_y = torch.randn(32, len(BANDS), px, px), torch.randint(0, 4, (32,))
    n_steps = 2 if px > 64 else 4

    def train() -> None:
        for _ in range(n_steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(batch_x), batch_y).backward()
            opt.step()

    bare_rate = _rate(n, bare, repeats)
    e2e_rate = _rate(n, end_to_end, repeats)
    return {
        "arch": arch, "cutout_px": px, "n": n, "width": width,
        "bare_per_s": bare_rate, "end_to_end_per_s": e2e_rate,
        "end_to_end_fraction": e2e_rate / bare_rate,
        "train_samples_per_s": _rate(32 * n_steps, train, repeats=1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32,112")
    parser.add_argument("--arch", default="resnet18,vgg19bn")
    parser.add_argument("--n", type=int, default=256, help="sources per timing")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (best is kept)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch.split(","):
            for px in (int(s) for s in args.sizes.split(",")):
                n = args.n if px <= 64 else max(BATCH, args.n // 4)
                rows.append(bench_one(arch, px, n, args.width, Path(tmp), args.repeats))
    title = f"cutout CNNs (width {args.width}, {torch.get_num_threads()} threads)"
    table = Table("arch", "px", "n", "bare /s", "end to end /s", "e2e / bare", "train /s",
                  title=title)  # fmt: skip
    for r in rows:
        table.add_row(r["arch"], str(r["cutout_px"]), str(r["n"]), f"{r['bare_per_s']:.1f}",
                      f"{r['end_to_end_per_s']:.1f}", f"{100 * r['end_to_end_fraction']:.0f} %",
                      f"{r['train_samples_per_s']:.1f}")  # fmt: skip
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
