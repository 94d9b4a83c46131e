"""``edgemoe train`` under torchrun: two CPU processes with the global batch of one end 20
steps at the losses one process reaches (within 1 %), rank 0 alone writes and reports, and
the checkpoint is a single process's (it evaluates and resumes without torchrun)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from edgemoe.model.checkpoint import load_checkpoint
from edgemoe.sim.config_file import load_config_file

# One worker trains the runs every test here reads (pytest -n).
pytestmark = pytest.mark.xdist_group("torchrun")

STEPS_TRAINING = {"train_images": 160, "val_images": 16, "epochs": 1, "batch_size": 8}
EDGEMOE = Path(sys.executable).parent / "edgemoe"


def _document(training: dict) -> dict:
    document = copy.deepcopy(load_config_file("tiny"))
    document["training"].update(training)
    return document


def _edgemoe(command: list[str], cwd: Path, processes: int | None = None,
             ) -> subprocess.CompletedProcess:
    launcher = [] if processes is None else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={processes}", "--no-python"]
    return subprocess.run([*launcher, str(EDGEMOE), *command], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The same 20 steps (160 images, batches of 8) by one and by two processes."""
    folder = tmp_path_factory.mktemp("ddp")
    document = _document(STEPS_TRAINING)
    (folder / "config.yaml").write_text(yaml.safe_dump(document))
    made = {}
    for processes in (1, 2):
        done = _edgemoe(["train", "--config", "config.yaml", "--out", f"run{processes}"],
                        folder, processes)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("checkpoint: ") == 1, done.stdout  # rank 0 reports
        made[processes] = folder / f"run{processes}"
    return made


def test_two_processes_reach_the_losses_of_one(runs: dict[int, Path]) -> None:
    one, two = (load_checkpoint(runs[n] / "checkpoint.pt").training_state["history"][-1]
                for n in (1, 2))
    assert one.keys() == two.keys() and len(one) > 2
    for name in one.keys() - {"epoch"}:
        assert abs(two[name] - one[name]) <= 0.01 * abs(one[name]), (name, one, two)
    total = (sum(one[k] for k in one if k != "epoch"), sum(two[k] for k in two if k != "epoch"))
    assert abs(total[1] - total[0]) <= 0.01 * total[0], total


def test_the_checkpoint_of_two_processes_is_a_single_ones(runs: dict[int, Path]) -> None:
    one = torch.load(runs[1] / "checkpoint.pt", weights_only=True)
    two = torch.load(runs[2] / "checkpoint.pt", weights_only=True)
    assert one.keys() == two.keys() and one["model"].keys() == two["model"].keys()
    assert sorted(p.name for p in runs[2].iterdir()) == sorted(p.name for p in runs[1].iterdir())
    done = _edgemoe(["train", "--out", str(runs[2]), "--resume", "--epochs", "2", "--config",
                     str(runs[2].parent / "config.yaml")], runs[2].parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(runs[2] / "checkpoint.pt").training_state["epoch"] == 2


def test_a_batch_that_does_not_split_is_refused(tmp_path: Path) -> None:
    document = _document({**STEPS_TRAINING, "batch_size": 7})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(document))
    done = _edgemoe(["train", "--config", "config.yaml", "--out", "run"], tmp_path, 2)
    assert done.returncode != 0
    assert "training.batch_size 7 does not split over 2 processes" in done.stderr
    assert not (tmp_path / "run").exists()


def test_the_backend_and_the_device_follow_cuda() -> None:
    from edgemoe.model.distributed import join, placement

    assert placement(cuda=True, local_rank=1) == ("nccl", torch.device("cuda", 1))
    assert placement(cuda=False, local_rank=1) == ("gloo", torch.device("cpu"))
    if not torch.cuda.is_available():  # this machine: a group of one on the CPU
        assert join().device == torch.device("cpu")
