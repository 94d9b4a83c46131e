"""`edgemoe verify --backend csim` on Ray: 2 workers against 1 on the same cluster.

16 images of the tiny config (rendered scenes, each checked layer by layer against the
simulator; the artifact's golden vectors where the image is one) x 2 tasks = 32 pairs. The
cluster is started once and warmed by an untimed run on both workers (a user's cluster is
up, its worker processes running); each timing includes what every run does: generating
the HLS sources, and in each worker process copying the artifact, loading the simulator and
the compiled kernel (built by the warm-up, as `verify` builds it before it sends jobs).

Without `--artifact`, a seeded random tiny M3ViT is exported to a temporary folder first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from emulator_overhead import random_artifact

from edgemoe.host.flow.verify import verify_pairs
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.cluster import cluster

TARGET = 1.7
IMAGES = 16


def scenes(config, count: int) -> np.ndarray:
    from edgemoe.model.data.scenes import render_scene

    return np.stack([render_scene(1000 + seed, config.image_height, config.image_width).image
                     for seed in range(count)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifact", type=Path, help="an exported tiny artifact")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact or random_artifact("tiny", Path(tmp))
        loaded = Artifact(artifact)
        manifest = loaded.manifest
        images = scenes(manifest.config, IMAGES)
        tasks = list(manifest.config.tasks)[:2]
        seconds = {}
        with cluster("local", cpus=2):
            verify_pairs(loaded, images, tasks, "csim", "local", 2, progress=False)
            for workers in (1, 2):
                started = time.perf_counter()
                results = verify_pairs(loaded, images, tasks, "csim", "local", workers,
                                       progress=False)
                seconds[workers] = time.perf_counter() - started
                assert all(r.equal for r in results), "a pair differs: run edgemoe verify"
                print(f"{workers} worker(s): {len(results)} pairs ({IMAGES} images x "
                      f"{len(tasks)} tasks), every layer bit-exact, in {seconds[workers]:.2f} s")
    ratio = seconds[1] / seconds[2]
    print(f"verify_scaling_2_workers: {ratio:.2f}x (target >= {TARGET}x)")


if __name__ == "__main__":
    main()
