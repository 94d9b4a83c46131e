"""``edgemoe report``: the whole flow's results for an artifact, as one HTML page."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path),
              help="The run the artifact was exported from: float vs fixed (both presets), "
                   "SQNR and the gallery's float column.")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              help="Report folder [default: reports/ARTIFACT-NAME].")
@click.option("--results", type=click.Path(path_type=Path),
              help="Folder of the stages' result JSONs [default: OUT/results].")
@click.option("--rtl", "rtl_dir", type=click.Path(path_type=Path), default=Path("build/rtl"),
              show_default=True, help="Where `edgemoe rtl estimate` wrote resources.json.")
@click.option("--images", type=click.IntRange(min=1), default=16, show_default=True,
              help="Validation scenes for float vs fixed and expert usage.")
@click.option("--gallery", type=click.IntRange(min=1), default=3, show_default=True,
              help="Scenes shown per task.")
@click.option("--calibration-images", type=click.IntRange(min=1), default=64,
              show_default=True, help="To calibrate the preset the artifact was not exported "
                                      "with.")
def report(artifact: Path, checkpoint: Path | None, out_dir: Path | None, results: Path | None,
           rtl_dir: Path, images: int, gallery: int, calibration_images: int) -> None:
    """Build reports/NAME/index.html (self-contained), its PNGs and report.json for ARTIFACT."""
    from edgemoe.sim.artifact import ArtifactError
    from edgemoe.sim.bitexact_record import BitExactRecordError

    from .build import ReportError, ReportOptions, build_report

    out_dir = out_dir or Path("reports") / artifact.resolve().name
    options = ReportOptions(images=images, gallery=min(gallery, images),
                            calibration_images=calibration_images, results=results,
                            rtl_dir=rtl_dir)
    try:
        page = build_report(artifact, out_dir, checkpoint, options)
    except (ArtifactError, ReportError, BitExactRecordError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"report: {page} (figures and report.json beside it)")
