"""``edgemoe verify``: bit-exactness over many images and every task, on this core or spread
over a Ray cluster.

Each (image, task) pair is one job, checked layer by layer in scratch order:

- ``--backend sim``: the simulator's every layer against the artifact's golden vectors (so
  every image must be one of its vector images: export with ``--vectors N``);
- ``--backend csim``: the generated C++ kernel (built with g++, run in debug mode so that
  every layer lands in scratch, then its output tokens) against the golden vectors where
  the image is a vector image, else against the simulator.

A worker holds its own checked copy of the artifact and of the HLS sources (sent through
the object store, so no shared folder is needed), compiles the kernel once (cached by
content, so workers on one machine build it once), and then takes pairs as they come; it
keeps no folder.
"""

from __future__ import annotations

import shlex
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from edgemoe.sim.accelerator import Accelerator as Simulator
from edgemoe.sim.artifact import (
    Artifact,
    ArtifactError,
    golden_arrays,
    read_files,
    write_artifact,
    write_files,
)
from edgemoe.sim.bitexact import first_mismatch
from edgemoe.sim.bitexact_record import FirstMismatch, record_bitexact
from edgemoe.sim.cluster import ClusterError, cluster, run_jobs, worker_count
from edgemoe.sim.debug_taps import read_lanes, read_taps
from edgemoe.sim.images import load_images
from edgemoe.sim.network import tokens_name
from edgemoe.sim.output_folder import OutputError

BACKENDS = ("sim", "csim")
GOLDEN = "golden vectors"
SIMULATOR = "simulator"
OUTPUT_TOKENS = "output tokens"


@dataclass(frozen=True)
class PairResult:
    image: int
    task: str
    reference: str  # GOLDEN or SIMULATOR
    layers: int  # layer outputs compared (the output tokens among them)
    first: FirstMismatch | None  # the first layer that differs; None when every one agrees

    @property
    def equal(self) -> bool:
        return self.first is None


def vector_index(vectors: np.ndarray, image: np.ndarray) -> int | None:
    """Which of the artifact's vector images ``image`` is, if any."""
    return next((i for i, vector in enumerate(vectors) if np.array_equal(vector, image)), None)


class PairChecker:
    """One worker: the artifact (a checked copy, held in memory), its simulator and (csim)
    its kernel, loaded from the cache where the sources were built."""

    def __init__(self, artifact_files: Mapping[str, bytes], project_files: Mapping[str, bytes],
                 images: np.ndarray, backend: str) -> None:
        with tempfile.TemporaryDirectory(prefix="edgemoe-verify-") as scratch:
            root = Path(scratch)
            artifact = write_artifact(artifact_files, root / "artifact")  # checks each file
            self.manifest = manifest = artifact.manifest
            self.simulator = Simulator.from_manifest(manifest, artifact.weights(), workers=1)
            self.vectors = artifact.vector_images()
            if backend == "csim":
                from edgemoe.hls.csim import CsimKernel

                # under the config's name, as the driver built it: the same cached binary
                project = root / manifest.config.name / "hls"
                write_files(project_files, project)
                self.kernel = CsimKernel(project)
                self.weights = np.frombuffer(bytearray(artifact.weight_bytes()), np.uint8)
        self.files = artifact_files
        self.layout = manifest.buffers
        self.tokens_tap = tokens_name(manifest.config)
        self.images = images
        self.backend = backend
        self._golden: dict[str, dict[str, np.ndarray]] = {}

    def _golden_layers(self, task: str, vector: int) -> dict[str, np.ndarray]:
        if task not in self._golden:
            arrays = golden_arrays(self.manifest, task, lambda entry: self.files[entry.file])
            self._golden[task] = {name: value.raw for name, value in arrays.items()}
        golden = self._golden[task]
        return {tap.name: golden[tap.name][vector].ravel() for tap in self.layout.taps}

    def _simulated(self, image: np.ndarray, task: str) -> dict[str, np.ndarray]:
        trace = self.simulator.run(image, task, trace=True).trace
        return {tap.name: trace[tap.name].raw.ravel() for tap in self.layout.taps}

    def _kernel_layers(self, image: np.ndarray, task: str) -> dict[str, np.ndarray]:
        layout = self.layout
        scratch = np.zeros(layout.scratch_bytes, np.uint8)
        tokens = np.zeros(layout.token_bytes, np.uint8)
        self.kernel.run(self.weights, np.ascontiguousarray(image).reshape(-1), tokens, scratch,
                        self.manifest.config.task_index(task), 1, debug=True)
        layers = read_taps(scratch, layout)
        output = next(tap for tap in layout.taps if tap.name == self.tokens_tap)
        layers[OUTPUT_TOKENS] = read_lanes(tokens, 0, layout.token_elements, output.format,
                                           layout.feature_bits)
        return layers

    def check(self, index: int, task: str) -> PairResult:
        image = self.images[index]
        vector = vector_index(self.vectors, image)
        if vector is not None:
            reference, expected = GOLDEN, self._golden_layers(task, vector)
        else:
            reference, expected = SIMULATOR, self._simulated(image, task)
        if self.backend == "csim":  # the kernel's output buffer, beside its tap
            expected[OUTPUT_TOKENS] = expected[self.tokens_tap]
            got = self._kernel_layers(image, task)
        else:
            got = self._simulated(image, task)
        for compared, name in enumerate(expected, start=1):
            first = _first_difference(name, expected[name], got[name])
            if first is not None:
                return PairResult(index, task, reference, compared, first)
        return PairResult(index, task, reference, len(expected), None)


def _first_difference(name: str, expected: np.ndarray, got: np.ndarray,
                      ) -> FirstMismatch | None:
    if expected.shape != got.shape:
        return FirstMismatch(f"{name} ({got.size} values, expected {expected.size})")
    mismatch = first_mismatch(expected, got)
    return None if mismatch is None else FirstMismatch(name, mismatch.index, mismatch.expected,
                                                       mismatch.got)


def project_files(artifact: Path, folder: Path) -> dict[str, bytes]:
    """The artifact's HLS project, generated into ``folder`` and built there once (so that
    workers on this machine find the kernel in the cache), by relative path."""
    from edgemoe.hls.csim import build_shared
    from edgemoe.hls.generator import generate

    project = generate(artifact, folder)
    build_shared(project)
    return read_files(project)


def verify_pairs(artifact: Artifact, images: np.ndarray, tasks: list[str], backend: str,
                 ray_address: str | None = None, workers: int | None = None,
                 progress: bool = True) -> list[PairResult]:
    """Every (image, task) pair of ``artifact`` (loaded) checked, sorted by image and
    task."""
    jobs = [(index, task) for index in range(len(images)) for task in tasks]
    with tempfile.TemporaryDirectory(prefix="edgemoe-verify-") as scratch:
        config_name = artifact.manifest.config.name
        sources = (project_files(artifact.root, Path(scratch) / config_name / "hls")
                   if backend == "csim" else {})
        arguments = (artifact.contents(), sources, images, backend)
        if ray_address is None:
            checker = PairChecker(*arguments)
            results = [checker.check(*job) for job in _bar(jobs, progress)]
        else:
            with cluster(ray_address, workers) as ray:
                results = list(run_jobs(ray, PairChecker, arguments, jobs, "check",
                                        worker_count(ray, workers), desc="verify",
                                        progress=progress))
    order = {task: i for i, task in enumerate(tasks)}
    return sorted(results, key=lambda r: (r.image, order[r.task]))


def _bar(jobs: list, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(jobs, desc="verify", unit="job", disable=not progress)


def _choose_images(loaded: Artifact, images_path: Path | None,
                   backend: str) -> tuple[np.ndarray, list[str]]:
    config = loaded.manifest.config
    if images_path is None:
        vectors = loaded.vector_images()
        return vectors, [f"vector image {i}" for i in range(len(vectors))]
    images, names = load_images(images_path, config)
    if backend == "sim":
        vectors = loaded.vector_images()
        lacking = [name for name, image in zip(names, images, strict=True)
                   if vector_index(vectors, image) is None]
        if lacking:
            raise ValueError(f"--backend sim compares the simulator with golden vectors, and "
                             f"{len(lacking)} of {len(names)} images have none (first: "
                             f"{lacking[0]}); export them with --vectors, or use --backend "
                             "csim")
    return images, names


def _command(artifact: Path, images_path: Path | None, backend: str,
             tasks: tuple[str, ...]) -> list[str]:
    """How to reproduce the check (where it ran does not change what it checks)."""
    words = ["edgemoe", "verify", str(artifact), "--backend", backend]
    if images_path is not None:
        words += ["--images", str(images_path)]
    for task in tasks:
        words += ["--task", task]
    return words


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--images", "images_path", type=click.Path(path_type=Path),
              help="a folder of images or one .npy array [default: the artifact's vector "
                   "images]")
@click.option("--backend", type=click.Choice(BACKENDS), default="csim", show_default=True,
              help="sim: the simulator against the golden vectors; csim: the generated C++ "
                   "against the golden vectors or the simulator")
@click.option("--task", "tasks", multiple=True, help="only these tasks [default: every task]")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="spread the pairs over Ray: 'local' (a cluster on this machine), 'auto' "
                   "(the one `ray start` runs here) or a cluster's address")
@click.option("--workers", type=click.IntRange(min=1),
              help="Ray workers [default: the cluster's CPUs]")
@click.option("--results", "results_dir", type=click.Path(path_type=Path),
              help="where the report reads stage results [default: "
                   "reports/ARTIFACT-NAME/results]")
def verify(artifact: Path, images_path: Path | None, backend: str, tasks: tuple[str, ...],
           ray_address: str | None, workers: int | None, results_dir: Path | None) -> None:
    """Check every layer of every (image, task) pair bit for bit; list each failing pair
    with its first differing layer; record the outcome for `edgemoe report`."""
    from edgemoe.hls.csim import CsimError
    from edgemoe.hls.cxx_build import CompileError, CompilerNotFoundError
    from edgemoe.hls.headers import HeadersNotFoundError

    started = time.perf_counter()
    try:
        loaded = Artifact(artifact)
        manifest = loaded.manifest
        chosen = manifest.config.chosen_tasks(tasks)
        images, names = _choose_images(loaded, images_path, backend)
        if workers is not None and ray_address is None:
            raise ValueError("--workers shares the pairs out on Ray: give --ray too")
        results = verify_pairs(loaded, images, chosen, backend, ray_address, workers)
    except (ArtifactError, ValueError, ClusterError, CsimError, CompileError,
            CompilerNotFoundError, HeadersNotFoundError, OutputError) as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    failing = [r for r in results if not r.equal]
    for result in failing:
        click.echo(f"{result.task} {names[result.image]}: differs from the {result.reference}"
                   f" first at {result.first}")
    seconds = time.perf_counter() - started
    layers = sum(r.layers for r in results)
    click.echo(f"verify ({backend}): {len(results) - len(failing)} of {len(results)} pairs "
               f"({len(images)} images x {len(chosen)} tasks) bit-exact in every layer, "
               f"{layers} layer outputs compared, in {seconds:.1f} s")
    first = failing[0] if failing else None
    references = sorted({r.reference for r in results})
    stage = "csim (verify)" if backend == "csim" else "simulator (verify)"
    record = results_dir or Path("reports") / artifact.resolve().name / "results"
    try:
        path = record_bitexact(
            record, stage, compared_against=" and ".join(references),
            compared={"images": len(images), "tasks": len(chosen), "layer outputs": layers},
            equal=first is None,
            first_mismatch=None if first is None else FirstMismatch(
                f"{first.task} {names[first.image]} {first.first.where}", first.first.index,
                first.first.expected, first.first.got),
            command=shlex.join(_command(artifact, images_path, backend, tasks)))
    except OutputError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"recorded in {path}")
    if failing:
        raise click.ClickException(f"{len(failing)} of {len(results)} pairs differ")
