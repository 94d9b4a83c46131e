"""M3ViT's NYUD-v2 and PASCAL-Context folder layouts, written here from random data in
the files' own formats, read back as our items; a NYUD folder trains."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from edgemoe.host.flow.cli import main
from edgemoe.model.data.m3vit_folders import M3ViTFolders
from edgemoe.sim.metrics import IGNORE_LABEL

RNG = np.random.default_rng(5)
NYUD_TASKS = ("segmentation", "depth", "normals", "edges")


def _image(path: Path, height: int = 60, width: int = 80) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def nyud(root: Path, splits: dict[str, list[str]]) -> dict[str, dict]:
    """M3ViT's NYUD_MT layout; returns what each image's files hold."""
    stored = {}
    (root / "gt_sets").mkdir(parents=True)
    for split, names in splits.items():
        (root / "gt_sets" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            _image(root / "images" / f"{name}.jpg")
            classes = RNG.integers(0, 41, (60, 80)).astype(np.uint8)  # 0 = void
            (root / "segmentation").mkdir(exist_ok=True)
            Image.fromarray(classes).save(root / "segmentation" / f"{name}.png")
            for folder, value in (("depth", RNG.uniform(0, 9, (60, 80))),
                                  ("normals", RNG.normal(size=(60, 80, 3))),
                                  ("edge", RNG.integers(0, 2, (60, 80)).astype(np.float32))):
                (root / folder).mkdir(exist_ok=True)
                np.save(root / folder / f"{name}.npy", value.astype(np.float32))
            stored[name] = {"classes": classes}
    return stored


def test_nyud_items_carry_every_target_in_our_conventions(tmp_path: Path) -> None:
    stored = nyud(tmp_path / "NYUD_MT", {"train": ["0001", "0002"], "val": ["0003"]})
    data = M3ViTFolders(tmp_path / "NYUD_MT", "train", 30, 40, NYUD_TASKS, 40)
    assert len(data) == 2 and tuple(data.images.shape) == (2, 30, 40, 3)
    item = data[0]
    classes = stored["0001"]["classes"][::2, ::2]  # nearest, half size
    expected = np.where(classes == 0, IGNORE_LABEL, classes.astype(np.int64) - 1)
    assert item["label"].numpy().tolist() == expected.tolist()
    assert item["depth"].shape == (30, 40) and item["normals"].shape == (3, 30, 40)
    length = np.linalg.norm(item["normals"].numpy(), axis=0)  # unit, or 0 where unknown
    assert np.all((np.abs(length - 1) < 1e-5) | (length == 0)) and np.mean(length) > 0.8
    assert set(np.unique(item["edges"].numpy())) <= {0, 1}


def test_pascal_reads_what_it_can_and_names_what_it_cannot(tmp_path: Path) -> None:
    root = tmp_path / "PASCAL_MT"
    (root / "ImageSets" / "Context").mkdir(parents=True)
    (root / "ImageSets" / "Context" / "val.txt").write_text("2008_000002\n")
    _image(root / "JPEGImages" / "2008_000002.jpg")
    voc = RNG.integers(0, 21, (60, 80))
    for folder, values in (("semseg/pascal-context", np.full((60, 80), 255)),
                           ("semseg/VOC12", voc), ("sal_distill", RNG.integers(0, 256, (60, 80)))):
        (root / folder).mkdir(parents=True)
        Image.fromarray(values.astype(np.uint8)).save(root / folder / "2008_000002.png")
    item = M3ViTFolders(root, "val", 60, 80, ("segmentation", "saliency"), 21)[0]
    assert item["label"].numpy().tolist() == voc.tolist()  # VOC12's first, as M3ViT reads
    assert set(np.unique(item["saliency"].numpy())) <= {0, 1}
    with pytest.raises(FileNotFoundError, match=r"tasks \['human_parts', 'normals', 'edges'\] "
                                                "have no ground truth this pascal reader"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation", "human_parts", "normals", "edges"), 21)
    with pytest.raises(ValueError, match="class id 20 is not below the model's 8 classes"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 8)[0]
    (root / "JPEGImages" / "2008_000002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"2008_000002\.jpg cannot be read as an image"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 21)
    (root / "JPEGImages" / "2008_000002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"val\.txt names '2008_000002', but"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 21)
    (root / "ImageSets" / "Context" / "val.txt").write_text("../../etc/passwd\n")
    with pytest.raises(ValueError, match="no plain file name"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 21)


def test_a_nyud_folder_trains_the_four_tasks(tmp_path: Path, small_document: dict) -> None:
    nyud(tmp_path / "NYUD_MT", {"train": [f"{i:04}" for i in range(16)], "val": ["9999"]})
    document = copy.deepcopy(small_document)
    document["model"].update({"tasks": list(NYUD_TASKS), "classes": 40})
    config = tmp_path / "nyud.yaml"
    config.write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--out",
                                       str(tmp_path / "run"), "--data",
                                       str(tmp_path / "NYUD_MT")])
    assert result.exit_code == 0, result.output
    assert "normals" in result.output and "ods_f" in result.output
