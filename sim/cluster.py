"""Jobs on a Ray cluster: this machine's (``local``), the one ``ray start`` runs here
(``auto``), or any other by address. Workers are actors, each built once with its state
(a loaded artifact, a compiled kernel) and then fed one job after another."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

#: A local cluster's object store: the jobs move artifacts and images, never tensors.
LOCAL_OBJECT_STORE_BYTES = 256 << 20
#: How long an actor may take to exit cleanly (remove its folders) before it is killed.
EXIT_TIMEOUT_S = 60


class ClusterError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, or a worker failed."""


def _ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray: pip install 'edgemoe[cluster]'") from None
    return ray


@contextmanager
def cluster(address: str, cpus: int | None = None,
            resources: dict[str, float] | None = None) -> Iterator[Any]:
    """Ray, connected: ``local`` starts a cluster of ``cpus`` CPUs (and custom
    ``resources``) on this machine, shut down on leaving; ``auto`` or an address joins a
    running one, left running. A process already connected (a test's cluster) keeps its
    connection, whatever ``address`` says."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    options = {"include_dashboard": False, "log_to_driver": False,
               "configure_logging": False}
    try:
        if address == "local":  # a new cluster, even where `ray start` runs one
            ray.init(address="local", num_cpus=cpus, resources=resources,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise ClusterError(f"cannot join the Ray cluster at {address}: "
                           f"{str(err).splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_resource(ray: Any, name: str) -> float:
    """How much of resource ``name`` the whole cluster has (CPU, or a custom one)."""
    return float(ray.cluster_resources().get(name, 0))


def worker_count(ray: Any, asked: int | None) -> int:
    """``asked`` workers (default: one per CPU of the cluster), no more than it has CPUs:
    an actor that can never be placed would hold its jobs forever."""
    cpus = int(cluster_resource(ray, "CPU"))
    if asked is not None and asked > cpus:
        raise ClusterError(f"--workers {asked}, but the Ray cluster has {cpus} CPUs")
    return asked or max(1, cpus)


def run_on_actors(ray: Any, worker: type, arguments: tuple, jobs: Iterable[tuple],
                  method: str, workers: int, resources: dict[str, float] | None = None,
                  desc: str = "jobs", progress: bool = True) -> Iterator[Any]:
    """Each job's result, in the order they finish: ``workers`` actors of class ``worker``
    built with ``arguments`` (put in the object store once), each job ``method(*job)`` on
    whichever actor is free. A worker that fails ends the run with its first line; at the
    end the actors exit cleanly (their temporary folders removed)."""
    from ray.util import ActorPool

    jobs = list(jobs)
    actors: list = []
    finished = False
    try:
        shared = [ray.put(argument) for argument in arguments]
        remote = ray.remote(num_cpus=1, resources=resources or None)(worker)
        actors = [remote.remote(*shared) for _ in range(min(workers, len(jobs)) or 1)]
        pool = ActorPool(actors)
        call: Callable = lambda actor, job: getattr(actor, method).remote(*job)  # noqa: E731
        yield from tqdm(pool.map_unordered(call, jobs), total=len(jobs), desc=desc,
                        unit="job", disable=not progress)
        finished = True
    except ray.exceptions.RayError as err:
        raise ClusterError(f"a Ray worker failed: {_first_line(err)}") from None
    finally:
        if finished:  # let each exit as a process does, so its finalizers run
            ray.wait([actor.__ray_terminate__.remote() for actor in actors],
                     num_returns=len(actors), timeout=EXIT_TIMEOUT_S)
        for actor in actors:
            ray.kill(actor)


def _first_line(err: BaseException) -> str:
    """The worker's own error, not Ray's wrapping of it."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        err = cause
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"
