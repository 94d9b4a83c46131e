"""``edgemoe demo``: the whole flow on one config, each stage skipped when nothing it
reads has changed since it last succeeded."""

from __future__ import annotations

import time

import click


@click.command("demo")
@click.option("--config", default="tiny", show_default=True,
              help="A config name (tiny, m3vit-s) or a .yaml/.json file.")
def demo(config: str) -> None:
    """Train, evaluate, quantize, export, generate HLS, csim, RTL units, the emulated board
    and the report; every comparison bit-exact. A second run skips what is done."""
    from edgemoe.sim.config import ConfigError

    from .runner import Runner, StageFailed, summary
    from .stages import flow

    started = time.perf_counter()
    try:
        paths, stages = flow(config)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"edgemoe demo: {len(stages)} stages on config {paths.name!r} "
               f"(stamps in {paths.stamps}, results in {paths.results})")
    try:
        outcomes = Runner(paths.stamps).run(stages)
    except StageFailed as err:
        raise click.ClickException(str(err)) from None
    click.echo("\n" + summary(outcomes))
    compared = [o.stage for o in outcomes if o.result.startswith("bit-exact")]
    click.echo(f"bit-exact at every stage that compares: {', '.join(compared)}")
    click.echo(f"demo finished in {time.perf_counter() - started:.0f} s")
