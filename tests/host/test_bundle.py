"""``edgemoe bundle``: the folder for the board holds the artifact as exported, the
overlay only when its registers are the artifact's, the notebook and a README; anything
refused leaves nothing behind."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from click.testing import CliRunner

from edgemoe.host.flow.cli import main
from edgemoe.host.hwh import write_emulated_hwh
from edgemoe.sim.artifact import Artifact


def _bundle(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["bundle", *arguments])
    return result.exit_code, result.output


def test_an_emulated_bundle_holds_what_the_board_needs(tiny_artifact: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    code, output = _bundle(str(tiny_artifact), "-o", str(out))
    assert code == 0, output
    copied, original = Artifact(out / "artifact"), Artifact(tiny_artifact)
    for entry in original.manifest.files():
        assert copied.read(entry) == original.read(entry)
    assert not (out / "overlay").exists()
    notebook = json.loads((out / "notebooks" / "edgemoe.ipynb").read_text())
    assert notebook["nbformat"] == 4
    assert all(not cell.get("outputs") for cell in notebook["cells"])  # no stale results
    wheels = list(out.glob("edgemoe-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert "edgemoe/host/notebooks/edgemoe.ipynb" in wheel.namelist()
    readme = (out / "README.md").read_text()
    assert f"pip install './{wheels[0].name}[board,notebook]'" in readme
    assert "edgemoe run artifact --emulate sim --validate 2" in readme
    assert "notebooks/edgemoe.ipynb" in readme


def _design(tiny_artifact: Path, folder: Path) -> Path:
    folder.mkdir()
    bitstream = folder / "top.bit"
    bitstream.write_bytes(bytes(range(256)) * 4)
    write_emulated_hwh(Artifact(tiny_artifact).manifest, folder / "top.hwh")
    return bitstream


def test_a_bitstream_is_bundled_with_its_handoff(tiny_artifact: Path, tmp_path: Path) -> None:
    bitstream = _design(tiny_artifact, tmp_path / "design")
    code, output = _bundle(str(tiny_artifact), "--bitstream", str(bitstream), "-o",
                           str(tmp_path / "bundle"))
    assert code == 0, output
    overlay = tmp_path / "bundle" / "overlay"
    assert (overlay / "edgemoe.bit").read_bytes() == bitstream.read_bytes()
    assert (overlay / "edgemoe.hwh").read_bytes() == bitstream.with_suffix(".hwh").read_bytes()
    readme = (tmp_path / "bundle" / "README.md").read_text()
    assert "edgemoe run artifact --bitstream overlay/edgemoe.bit --validate 2" in readme


def _move_register(handoff: Path, name: str, offset: int) -> None:
    tree = ElementTree.parse(handoff)
    register = next(r for r in tree.iter("REGISTER") if r.get("NAME") == name)
    next(p for p in register.iter("PROPERTY")
         if p.get("NAME") == "ADDRESS_OFFSET").set("VALUE", hex(offset))
    tree.write(handoff)


def _refused(*arguments: str) -> str:
    """The one-line error of a bundle that is refused."""
    code, output = _bundle(*arguments)
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    return output


def test_a_bundle_refuses_a_design_of_another_artifact(tiny_artifact: Path,
                                                       tmp_path: Path) -> None:
    bitstream = _design(tiny_artifact, tmp_path / "design")
    handoff = bitstream.with_suffix(".hwh")
    out = tmp_path / "bundle"
    design = (str(tiny_artifact), "--bitstream", str(bitstream), "-o", str(out))
    registers = {r.name: r.offset for r in Artifact(tiny_artifact).manifest.kernel.registers()}
    _move_register(handoff, "task_index", registers["task_index"] + 0x100)
    assert (f"kernel registers do not match the artifact: task_index at "
            f"{registers['task_index'] + 0x100:#x} (manifest: {registers['task_index']:#x})"
            ) in _refused(*design)
    tree = ElementTree.parse(handoff)  # a register the design does not have
    for block in tree.iter("REGISTERS"):
        for register in [r for r in block if r.get("NAME") == "num_images"]:
            block.remove(register)
    tree.write(handoff)
    assert (f"num_images at nowhere (manifest: {registers['num_images']:#x})"
            in _refused(*design))
    vlnv = Artifact(tiny_artifact).manifest.kernel.vlnv
    for broken, message in ((b"<EDKSYSTEM><MODULES>", "is no hardware handoff (XML"),
                            (b"<EDKSYSTEM/>", f"holds no {vlnv} kernel")):
        handoff.write_bytes(broken)
        assert message in _refused(*design)
    handoff.unlink()
    assert "no hardware handoff" in _refused(*design)
    assert "no bitstream at" in _refused(str(tiny_artifact), "--bitstream",
                                         str(tmp_path / "none.bit"), "-o", str(out))
    assert not out.exists()  # nothing half-written


def test_a_bundle_never_writes_over_what_it_did_not_write(tiny_artifact: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("a user's notes")
    code, output = _bundle(str(tiny_artifact), "-o", str(out))
    assert code == 1 and "notes" in output
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    code, output = _bundle(str(tmp_path / "missing"), "-o", str(tmp_path / "other"))
    assert code == 1 and "is not an artifact folder" in output
