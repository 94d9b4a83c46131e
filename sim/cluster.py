"""Jobs on a Ray cluster: this machine's (``local``), the one ``ray start`` runs here
(``auto``), or any other by address. A job's worker object (a loaded artifact, a compiled
kernel) is built once per Ray process and run, then fed one job after another."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

#: A local cluster's object store: the jobs move artifacts and images, never tensors.
LOCAL_OBJECT_STORE_BYTES = 256 << 20


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
    """``asked`` workers (default: one per CPU of the cluster), no more than it has CPUs
    (the others would only wait)."""
    cpus = int(cluster_resource(ray, "CPU"))
    if asked is not None and asked > cpus:
        raise ClusterError(f"--workers {asked}, but the Ray cluster has {cpus} CPUs")
    return asked or max(1, cpus)


def run_jobs(ray: Any, worker: type, arguments: tuple, jobs: Iterable[tuple], method: str,
             workers: int, resources: dict[str, float] | None = None, desc: str = "jobs",
             progress: bool = True) -> Iterator[Any]:
    """Each job's result, in the order they finish: ``workers`` jobs at a time, each
    ``worker(*arguments).method(*job)`` in one of Ray's pooled worker processes (one CPU,
    and ``resources``, each). A process builds the worker on its first job of the run and
    keeps it for the next (``arguments`` go to the object store once), so a warm cluster
    starts no process. A job that fails ends the run with its first line."""
    queue = list(jobs)[::-1]
    pending: list = []
    bar = tqdm(total=len(queue), desc=desc, unit="job", disable=not progress)
    try:
        shared = [ray.put(argument) for argument in arguments]  # a list: not resolved
        remote = ray.remote(num_cpus=1, resources=resources or None)(_job)
        run = secrets.token_hex(8)

        def give() -> None:
            if queue:
                pending.append(remote.remote(worker, run, shared, method, queue.pop()))

        for _ in range(workers):
            give()
        while pending:
            [done], _ = ray.wait(pending, num_returns=1)
            pending.remove(done)
            give()
            yield ray.get(done)
            bar.update()
    except ray.exceptions.RayError as err:
        raise ClusterError(f"a Ray worker failed: {_first_line(err)}") from None
    finally:
        bar.close()
        for job in pending:
            ray.cancel(job, force=True)


#: In a Ray worker process: the run whose worker it holds, and that worker.
_HELD: dict[str, Any] = {}


def _job(worker: type, run: str, arguments: list, method: str, job: tuple) -> Any:
    if run not in _HELD:
        import ray

        _HELD.clear()  # the previous run's worker goes
        _HELD[run] = worker(*ray.get(arguments))
    return getattr(_HELD[run], method)(*job)

def _first_line(err: BaseException) -> str:
    """The worker's own error, not Ray's wrapping of it."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        err = cause
    lines = [line for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"
