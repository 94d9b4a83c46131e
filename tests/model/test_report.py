"""``edgemoe report``: the page a person opens, checked in headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgemoe.host.flow.cli import main
from edgemoe.model.report.build import SECTION_IDS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = shutil.which("chromium")


def _report(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", *(str(a) for a in args)])
    return result.exit_code, result.output


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *args],
                          capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def report_dir(tiny_run: Path, tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory,
               ) -> Path:
    """A report with the checkpoint and the emulated board's validation in its results."""
    out = tmp_path_factory.mktemp("report") / "tiny"
    results = out / "results"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(out.parent)  # the emulated design goes to build/ there
        run = CliRunner().invoke(main, ["run", str(tiny_artifact), "--emulate", "sim",
                                        "--validate", "1", "-o", str(results)])
    assert run.exit_code == 0, run.output
    code, output = _report(tiny_artifact, "--checkpoint", tiny_run / "checkpoint.pt", "-o", out,
                           "--images", 3, "--gallery", 2, "--calibration-images", 8,
                           "--rtl", out / "no-rtl")
    assert code == 0, output
    return out


def test_report_has_every_section_and_its_numbers(report_dir: Path) -> None:
    """report.json holds every section; float vs fixed for both presets; the board row."""
    record = json.loads((report_dir / "report.json").read_text())
    assert list(record["sections"]) == list(SECTION_IDS)
    accuracy = record["sections"]["accuracy"]["data"]
    assert [r["preset"] for r in accuracy] == ["int16", "edge-moe"]
    assert set(accuracy[0]["metrics"]["segmentation"]["fixed"]) == {"miou", "pixel_accuracy"}
    stages = {s["stage"]: s for s in record["sections"]["bitexact"]["data"]["stages"]}
    assert stages["simulator"]["equal"] and stages["emulated board (sim)"]["equal"], stages
    assert record["sections"]["resources"]["status"] == "not run"
    tokens = record["sections"]["experts"]["data"]["tokens"]["depth"]
    assert np.sum(tokens, axis=1).tolist() == [3 * 33 * 2] * len(tokens)  # images x tokens x k
    for section in record["sections"].values():
        for figure in section["figures"]:
            assert (report_dir / figure).read_bytes().startswith(PNG_SIGNATURE), figure


def test_page_embeds_every_image_as_a_valid_png(report_dir: Path) -> None:
    """Every <img> is a data URI whose bytes are a PNG: the page needs no other file."""
    html = (report_dir / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 6, f"{len(sources)} images"  # architecture .. experts
    for source in sources:
        assert source.startswith("data:image/png;base64,"), source[:40]
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_SIGNATURE)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install "
                                              "chromium; `make system-tools` does it)")
def test_page_renders_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    """Headless Chromium shows every section heading, no broken image, a non-blank page."""
    url = (report_dir / "index.html").resolve().as_uri()
    dom = _chromium("--dump-dom", url).stdout
    for section in SECTION_IDS:
        assert f'id="{section}"' in dom, f"section {section} missing from the rendered page"
    broken = re.search(r'<body[^>]*data-broken-images="(\d+)"', dom)
    assert broken is not None, "the page's image check did not run"
    assert broken.group(1) == "0", f"{broken.group(1)} broken images"
    screenshot = tmp_path / "report.png"
    _chromium(f"--screenshot={screenshot}", "--window-size=1280,4000", url)
    import matplotlib.pyplot as plt

    pixels = plt.imread(screenshot)
    assert pixels.shape[:2] == (4000, 1280), pixels.shape
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 100, "blank page"


def test_report_keeps_other_stages_files_and_is_whole_or_nothing(
        report_dir: Path, tiny_artifact: Path, tmp_path: Path) -> None:
    """A failing rebuild leaves the previous report as it was; run.json is carried over."""
    out = tmp_path / "tiny"
    shutil.copytree(report_dir, out)
    (out / "results" / "bitexact-csim.json").write_text("{not json")
    before = (out / "index.html").read_bytes()
    code, output = _report(tiny_artifact, "-o", out, "--images", 1, "--gallery", 1)
    assert code != 0 and "bitexact-csim.json is not valid JSON" in output, output
    assert (out / "index.html").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"], "scratch left behind"
    assert (out / "results" / "run.json").is_file()


def test_report_refuses_bad_inputs(tiny_artifact: Path, tmp_path: Path) -> None:
    """A missing artifact, a folder that is not one, a checkpoint of another model."""
    import dataclasses

    from edgemoe.model.checkpoint import save_checkpoint
    from edgemoe.model.m3vit import M3ViT
    from edgemoe.sim.artifact import Artifact

    config = Artifact(tiny_artifact).manifest.config
    other = dataclasses.replace(config, dim=32)
    for name, shape in (("other.pt", other), ("untrained.pt", config)):
        save_checkpoint(tmp_path / name, M3ViT(shape), {"model": shape.to_dict()}, {})
    cases = [((tmp_path / "missing",), "is not an artifact"),
             ((tmp_path,), "is not an artifact"),
             ((tiny_artifact, "--checkpoint", tmp_path / "other.pt"), "dim: checkpoint 32"),
             ((tiny_artifact, "--checkpoint", tmp_path / "untrained.pt"),
              "is not the checkpoint")]
    for args, message in cases:
        code, output = _report(*args, "-o", tmp_path / "out")
        assert code == 1 and message in output, (args, output)
    assert not (tmp_path / "out").exists()
