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
from edgemoe.model.data import pascal_mat
from edgemoe.model.data.m3vit_folders import M3ViTFolders
from edgemoe.sim.metrics import IGNORE_LABEL, KNOWN_NORMAL

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


PASCAL_TASKS = ("segmentation", "human_parts", "saliency", "normals", "edges")
NAME = "2008_000002"
#: PASCAL-Context class ids: 3 has distilled normals in M3ViT, 2 (aeroplane) has none.
WITH_NORMALS, WITHOUT_NORMALS = 3, 2


def _person(names_and_masks: list[tuple[str, np.ndarray]]) -> np.ndarray:
    parts = np.zeros((1, len(names_and_masks)), dtype=[("part_name", "O"), ("mask", "O")])
    for index, (name, mask) in enumerate(names_and_masks):
        parts[0, index] = (name, mask.astype(np.uint8))
    return parts


def _part_annotation(path: Path, objects: list[tuple[int, np.ndarray]]) -> None:
    """PASCAL-Part's ``anno``: ``objects`` a 1 x N struct array of (class, class_ind, mask,
    parts), ``parts`` a 1 x P struct array of (part_name, mask) or [] for none."""
    from scipy.io import savemat

    records = np.zeros((1, len(objects)), dtype=[("class", "O"), ("class_ind", "O"),
                                                 ("mask", "O"), ("parts", "O")])
    for index, (class_ind, parts) in enumerate(objects):
        records[0, index] = ("person" if class_ind == 15 else "cat",
                             np.array([[class_ind]], np.uint8), np.ones((60, 80), np.uint8),
                             parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"anno": {"imname": path.stem, "objects": records}}, do_compression=True)


def pascal(root: Path, label_map: np.ndarray, objects: list[tuple[int, np.ndarray]],
           splits: dict[str, list[str]] | None = None) -> dict:
    """M3ViT's PASCAL_MT layout, every image with ``label_map`` and ``objects``; returns
    what the last image's files hold."""
    from scipy.io import savemat

    (root / "ImageSets" / "Context").mkdir(parents=True)
    for folder in ("semseg/pascal-context", "semseg/VOC12", "sal_distill", "normals_distill",
                   "pascal-context/trainval"):
        (root / folder).mkdir(parents=True)
    for split, names in (splits or {"val": [NAME]}).items():
        (root / "ImageSets" / "Context" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            _image(root / "JPEGImages" / f"{name}.jpg")
            stored = {"voc": RNG.integers(0, 21, (60, 80)),
                      "normals": RNG.integers(0, 256, (60, 80, 3))}
            for folder, values in (("semseg/pascal-context", np.full((60, 80), 255)),
                                   ("semseg/VOC12", stored["voc"]),
                                   ("sal_distill", RNG.integers(0, 256, (60, 80))),
                                   ("normals_distill", stored["normals"])):
                Image.fromarray(values.astype(np.uint8)).save(root / folder / f"{name}.png")
            savemat(root / "pascal-context" / "trainval" / f"{name}.mat",
                    {"LabelMap": label_map.astype(np.uint16)}, do_compression=True)
            _part_annotation(root / "human_parts" / f"{name}.mat", objects)
    return stored


def _boxes() -> dict[str, np.ndarray]:
    boxes = {}
    for name, (top, left) in {"head": (5, 5), "torso": (15, 5), "llarm": (25, 5),
                              "rfoot": (35, 5), "tail": (45, 5)}.items():
        boxes[name] = np.zeros((60, 80), bool)
        boxes[name][top:top + 8, left:left + 10] = True
    return boxes


def test_pascal_items_carry_every_target_as_m3vit_reads_them(tmp_path: Path) -> None:
    label_map = np.full((60, 80), WITH_NORMALS)
    label_map[20:41, 30:51] = WITHOUT_NORMALS
    boxes = _boxes()
    person = _person([(name, boxes[name]) for name in ("head", "torso", "llarm", "rfoot")])
    stored = pascal(tmp_path / "PASCAL_MT", label_map,
                    [(8, _person([("tail", boxes["tail"])])), (15, np.zeros((0, 0))),
                     (15, person)])
    item = M3ViTFolders(tmp_path / "PASCAL_MT", "val", 60, 80, PASCAL_TASKS, 21)[0]
    assert item["label"].numpy().tolist() == stored["voc"].tolist()  # VOC12's first
    assert set(np.unique(item["saliency"].numpy())) <= {0, 1}
    # the person's parts by M3ViT's six groups; the cat's tail and the partless person: none
    expected = np.zeros((60, 80), np.int64)
    for name, group in (("head", 1), ("torso", 2), ("llarm", 4), ("rfoot", 6)):
        expected[boxes[name]] = group
    assert item["parts"].numpy().tolist() == expected.tolist()
    # edges: the box's two-pixel Laplacian ring, thinned to one pixel
    edges = item["edges"].numpy()
    assert edges[:19].sum() == 0 and edges[43:].sum() == 0 and edges[:, :28].sum() == 0
    assert all(edges[row].sum() == 2 for row in range(23, 38))
    assert set(np.flatnonzero(edges[30])) <= {29, 30, 50, 51}
    # normals: decoded and unit where the class has them, unknown (0) where not
    normals = item["normals"].numpy()
    decoded = 2 * stored["normals"] / 255 - 1
    unit = decoded / np.linalg.norm(decoded, axis=-1, keepdims=True)
    kept = (label_map == WITH_NORMALS) & (np.sum(decoded**2, axis=-1) > KNOWN_NORMAL)
    np.testing.assert_allclose(normals.transpose(1, 2, 0)[kept], unit[kept], atol=1e-6)
    assert not normals[:, label_map == WITHOUT_NORMALS].any()


def test_pascal_edges_follow_the_laplacian_not_any_change_of_class(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(1, 81), (60, 1))  # a Laplacian of 0 inside, 2 at the borders
    pascal(tmp_path / "PASCAL_MT", ramp, [])
    edges = M3ViTFolders(tmp_path / "PASCAL_MT", "val", 60, 80, ("edges",), 21)[0]["edges"]
    assert edges[:, 1:-1].sum() == 0 and edges[:, 0].sum() > 50
    item = M3ViTFolders(tmp_path / "PASCAL_MT", "val", 60, 80, ("human_parts",), 21)[0]
    assert (item["parts"] == IGNORE_LABEL).all()  # nobody in the picture: ignored, as M3ViT


def test_pascal_matlab_files_are_read_as_hostile(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.io import savemat

    root = tmp_path / "PASCAL_MT"
    pascal(root, np.full((60, 80), WITH_NORMALS), [(15, _person([("head", _boxes()["head"])]))])
    labels = root / "pascal-context" / "trainval" / f"{NAME}.mat"
    parts = root / "human_parts" / f"{NAME}.mat"

    def item(task: str) -> dict:
        return M3ViTFolders(root, "val", 60, 80, (task,), 21)[0]

    monkeypatch.setattr(pascal_mat, "MAX_MAT_BYTES", 1 << 16)
    savemat(labels, {"LabelMap": np.zeros((600, 800), np.uint16)}, do_compression=True)
    assert labels.stat().st_size < 1 << 16  # small on disk, a bomb inflated
    with pytest.raises(ValueError, match=r"trainval/2008_000002\.mat inflates to over 65536"):
        item("edges")
    for odd in (-1.0, 1e30, np.nan, 2.5):
        savemat(labels, {"LabelMap": np.full((60, 80), odd)})
        with pytest.raises(ValueError, match="LabelMap holds values that are no class ids"):
            item("normals")
    savemat(labels, {"Other": np.zeros((6, 8))})
    with pytest.raises(ValueError, match=r"2008_000002\.mat holds no 'LabelMap'"):
        item("edges")
    labels.write_bytes(b"MATLAB 7.3 MAT-file".ljust(124) + b"\x00\x02IM" + bytes(64))
    with pytest.raises(ValueError, match="of another version than 5"):
        item("edges")
    labels.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match=r"2008_000002\.mat is no MATLAB 5 file"):
        item("edges")
    _part_annotation(parts, [(15, _person([("wing", _boxes()["head"])]))])
    with pytest.raises(ValueError, match=r"not in PASCAL-Part's annotation layout.*'wing'"):
        item("human_parts")
    savemat(parts, {"anno": {"imname": NAME}})
    with pytest.raises(ValueError, match="not in PASCAL-Part's annotation layout"):
        item("human_parts")
    _part_annotation(parts, [(15, _person([("head", np.ones((4, 4, 2)))]))])
    with pytest.raises(ValueError, match=r"'head''s mask is \(4, 4, 2\), not \(H, W\)"):
        item("human_parts")
    _part_annotation(parts, [(15, _person([("head", _boxes()["head"])]))])
    data = parts.read_bytes()
    parts.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r"2008_000002\.mat cannot be read as a MATLAB file"):
        item("human_parts")
    parts.unlink()
    with pytest.raises(FileNotFoundError, match=r"human_parts/2008_000002\.mat is missing"):
        item("human_parts")


def test_pascal_folder_errors_name_the_file(tmp_path: Path) -> None:
    root = tmp_path / "PASCAL_MT"
    voc = pascal(root, np.full((60, 80), WITH_NORMALS), [])["voc"]
    with pytest.raises(ValueError, match=f"class id {voc[voc >= 8][0]} is not below the "
                                         "model's 8 classes"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 8)[0]
    (root / "JPEGImages" / f"{NAME}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"2008_000002\.jpg cannot be read as an image"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 21)
    (root / "JPEGImages" / f"{NAME}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"val\.txt names '2008_000002', but"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 21)
    (root / "ImageSets" / "Context" / "val.txt").write_text("../../etc/passwd\n")
    with pytest.raises(ValueError, match="no plain file name"):
        M3ViTFolders(root, "val", 60, 80, ("segmentation",), 21)


def _train(tmp_path: Path, document: dict, data: Path, tasks: tuple[str, ...],
           classes: int) -> str:
    """``edgemoe train`` on the folder ``data``; its output."""
    document = copy.deepcopy(document)
    document["model"].update({"tasks": list(tasks), "classes": classes})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--out",
                                       str(tmp_path / "run"), "--data", str(data)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_nyud_folder_trains_the_four_tasks(tmp_path: Path, small_document: dict) -> None:
    nyud(tmp_path / "NYUD_MT", {"train": [f"{i:04}" for i in range(16)], "val": ["9999"]})
    output = _train(tmp_path, small_document, tmp_path / "NYUD_MT", NYUD_TASKS, 40)
    assert "normals" in output and "ods_f" in output


def test_a_pascal_folder_trains_the_five_tasks(tmp_path: Path, small_document: dict) -> None:
    label_map = np.full((60, 80), WITH_NORMALS)
    label_map[20:41, 30:51] = WITHOUT_NORMALS
    person = _person([(name, box) for name, box in _boxes().items() if name != "tail"])
    names = [f"2008_{i:06}" for i in range(16)]
    pascal(tmp_path / "PASCAL_MT", label_map, [(15, person)],
           {"train": names, "val": ["2009_000001"]})
    for name in names[:8]:  # half the pictures show nobody: their parts are ignored
        _part_annotation(tmp_path / "PASCAL_MT" / "human_parts" / f"{name}.mat", [])
    output = _train(tmp_path, small_document, tmp_path / "PASCAL_MT", PASCAL_TASKS, 21)
    assert "human_parts" in output and "ods_f" in output and "nan" not in output
