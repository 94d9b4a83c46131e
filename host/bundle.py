"""``edgemoe bundle``: the one folder a PYNQ user copies onto the board.

    BUNDLE/
      artifact/              the artifact's files, each checked against the manifest
      overlay/edgemoe.bit    the bitstream and its handoff (only with --bitstream; the
      overlay/edgemoe.hwh    handoff's kernel registers checked against the manifest)
      notebooks/edgemoe.ipynb
      edgemoe-VERSION-py3-none-any.whl   when this edgemoe runs from a source tree
      README.md              the commands to run on the board

The names inside the bundle are fixed or the manifest's validated file names: nothing a
user or a file names reaches a path. Without a bitstream the notebook and ``edgemoe run``
use the emulated design, so the bundle runs anywhere ``edgemoe[board]`` is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from importlib.metadata import version
from pathlib import Path

import click
import jinja2

from edgemoe.sim.artifact import Artifact, ArtifactError, write_artifact
from edgemoe.sim.output_folder import OutputError, output_folder

from .hwh import HandoffError, read_kernel_registers, register_mismatches

NOTEBOOK = "edgemoe.ipynb"
#: What edgemoe's wheel is built from: pyproject.toml's packages and metadata files.
PACKAGED = ("pyproject.toml", "README.md", "model", "sim", "hls", "host")
WHEEL_SECONDS = 600
README = jinja2.Template("""\
# {{ name }} for the ZCU104

Tasks: {{ tasks | join(", ") }}.

{% if bitstream -%}
The overlay is `overlay/edgemoe.bit` with its `.hwh`.
{%- else -%}
No bitstream was bundled: the commands and the notebook run on an emulated ZCU104 (the
bit-accurate simulator computing the kernel). Bundle again with `--bitstream` once Vivado
has built one.
{%- endif %}

Copy this folder onto the board (for example `scp -r BUNDLE xilinx@pynq:`), then run
on the board, in this folder:

```
{{ install }}
edgemoe run artifact {{ device }} --validate 2
jupyter nbconvert --to notebook --execute notebooks/{{ notebook }}
```

The first installs the board's part of edgemoe (numpy and pynq, no torch) and what runs the
notebook headless; on a PYNQ image, which has its own pynq and Jupyter, install the wheel
without the extras and run the commands with `sudo -E`. The second runs every task on the
artifact's golden images and checks each run against the simulator bit for bit. The third
runs the notebook; open it in PYNQ's Jupyter to see the predictions, the kernel time per
image, and power and energy per image from the board's PMBus rails.
""")


class BundleError(ValueError):
    """A bundle that cannot be made from what was given."""


def _project_root() -> Path | None:
    """The source tree this edgemoe runs from (an editable install), or None."""
    root = Path(__file__).resolve().parents[1]
    try:
        pyproject = (root / "pyproject.toml").read_text()
    except OSError:
        return None
    return root if re.search(r'^name = "edgemoe"$', pyproject, re.MULTILINE) else None


def _build_wheel(root: Path, folder: Path) -> Path:
    """edgemoe's wheel in ``folder``, built from a copy of what it packages (setuptools
    builds in the tree it is given, and the source tree's ``build/`` is the flow's)."""
    with tempfile.TemporaryDirectory(prefix="edgemoe-wheel-") as scratch:
        source = Path(scratch) / "edgemoe"
        source.mkdir()
        for name in PACKAGED:
            if (root / name).is_dir():
                shutil.copytree(root / name, source / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif (root / name).is_file():
                shutil.copyfile(root / name, source / name)
        try:
            done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                                   "--quiet", "--wheel-dir", str(folder), str(source)],
                                  capture_output=True, text=True, timeout=WHEEL_SECONDS)
        except subprocess.TimeoutExpired:
            raise BundleError(f"building edgemoe's wheel took over {WHEEL_SECONDS} s") from None
    wheels = sorted(folder.glob("edgemoe-*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BundleError(f"could not build edgemoe's wheel from {root}: {last}")
    return wheels[0]


def _copy_overlay(bitstream: Path, artifact: Artifact, folder: Path) -> None:
    if not bitstream.is_file() or bitstream.stat().st_size == 0:
        raise BundleError(f"no bitstream at {bitstream}")
    handoff = bitstream.with_suffix(".hwh")
    vlnv = artifact.manifest.kernel.vlnv
    mismatches = register_mismatches(read_kernel_registers(handoff, vlnv), artifact.manifest)
    if mismatches:
        raise BundleError(f"{handoff}'s kernel registers do not match the artifact: "
                          + "; ".join(mismatches) + ". Bundle the bitstream built from this "
                          "artifact's HLS project")
    (folder / "overlay").mkdir()
    shutil.copyfile(bitstream, folder / "overlay" / "edgemoe.bit")
    shutil.copyfile(handoff, folder / "overlay" / "edgemoe.hwh")


def make_bundle(artifact: Path, out: Path, bitstream: Path | None = None) -> None:
    """Write the bundle of ``artifact`` (and ``bitstream``) to ``out``; nothing is written
    when anything is refused."""
    loaded = Artifact(artifact)
    manifest = loaded.manifest
    with output_folder(out, "bundle") as folder:
        if bitstream is not None:
            _copy_overlay(bitstream, loaded, folder)
        write_artifact(loaded.contents(), folder / "artifact")  # read back, checked
        (folder / "notebooks").mkdir()
        notebook = resources.files("edgemoe.host") / "notebooks" / NOTEBOOK
        (folder / "notebooks" / NOTEBOOK).write_bytes(notebook.read_bytes())
        root = _project_root()
        install = f"pip install 'edgemoe[board,notebook]=={version('edgemoe')}'"
        if root is not None:
            wheel = _build_wheel(root, folder)
            install = f"pip install './{wheel.name}[board,notebook]'"
        device = "--bitstream overlay/edgemoe.bit" if bitstream else "--emulate sim"
        (folder / "README.md").write_text(README.render(
            name=manifest.config.name, tasks=manifest.tasks, bitstream=bitstream is not None,
            install=install, device=device, notebook=NOTEBOOK))


@click.command("bundle")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--bitstream", type=click.Path(path_type=Path),
              help="The design's .bit, its .hwh beside it [default: the emulated design].")
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="The bundle folder [default: bundles/ARTIFACT-NAME].")
def bundle(artifact: Path, bitstream: Path | None, out: Path | None) -> None:
    """One folder to copy onto the board: ARTIFACT, the overlay, a notebook and a README
    with the commands to run there."""
    out = out or Path("bundles") / artifact.resolve().name
    try:
        make_bundle(artifact, out, bitstream)
    except (ArtifactError, BundleError, HandoffError, OutputError) as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:  # a file that cannot be read or written, a full disk
        raise click.ClickException(f"bundle {out}: {err}") from None
    click.echo(f"wrote {out}: copy it onto the board and follow {out / 'README.md'}")
