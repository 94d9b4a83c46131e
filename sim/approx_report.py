"""``edgemoe approx-report``: each approximation's error over every representable input."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from .approx import ApproxError, Domain, default_domains, measure
from .atomic import atomic_path
from .output_folder import OutputError, output_folder

# what each approximation is judged by, and its target (the error it must stay within)
TARGETS = {"exp": ("abs", 2.0**-12), "reciprocal": ("rel", 2.0**-12),
           "rsqrt": ("rel", 2.0**-12), "gelu": ("abs", None)}


def target(domain: Domain) -> tuple[str, float]:
    """("abs" or "rel", the bound) an approximation's error must stay within."""
    kind, bound = TARGETS[domain.name]
    if bound is None:  # GELU: 1e-4 beyond the output format's own rounding
        bound = 1e-4 + domain.spec.output_fmt.lsb / 2
    return kind, bound


def error_row(domain: Domain, error: ApproxError) -> dict:
    """An approximation's measured errors against its target, as the JSON reports hold it."""
    kind, bound = target(domain)
    worst = float((error.rel_error if kind == "rel" else error.abs_error).max())
    return {"name": domain.name, "input": str(domain.spec.input_fmt),
            "output": str(domain.spec.output_fmt), "points": len(error.inputs),
            "max_abs": float(error.abs_error.max()), "mean_abs": float(error.abs_error.mean()),
            "max_rel": float(error.rel_error.max()), "target_kind": kind, "target": bound,
            "ok": worst <= bound}


def plot_errors(domains: list[Domain], errors: list[ApproxError], path: Path) -> None:
    """Each approximation's error curve over its inputs, its target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(domains), 1, figsize=(8, 2.6 * len(domains)))
    for axis, domain, error in zip(axes, domains, errors, strict=True):
        kind, bound = target(domain)
        values = error.rel_error if kind == "rel" else error.abs_error
        axis.plot(error.inputs, values, linewidth=0.6)
        axis.axhline(bound, color="red", linestyle="--", linewidth=0.8, label="target")
        axis.set_title(f"{domain.name}: {domain.spec.input_fmt} -> {domain.spec.output_fmt}")
        axis.set_ylabel(f"{kind} error")
        if domain.name in ("reciprocal", "rsqrt"):
            axis.set_xscale("log")
        axis.legend(loc="upper right")
    axes[-1].set_xlabel("input")
    figure.tight_layout()
    with atomic_path(path) as scratch:
        figure.savefig(scratch, format="png", dpi=110)
    plt.close(figure)


SOFTMAX_TARGET = 2.0**-10


def softmax_error(artifact: Path) -> tuple[float, int]:
    """Largest error of the accelerator's attention probabilities against float64 softmax
    of the same scores: every layer, task and golden image of an artifact."""
    from .artifact import Artifact
    from .kernels import attention_probabilities, single_pass_softmax
    from .network import block_prefix

    loaded = Artifact(artifact)
    manifest = loaded.manifest
    worst, rows = 0.0, 0
    for task in manifest.tasks:
        golden = loaded.golden(task)
        for layer in range(manifest.config.layers):
            p = block_prefix(layer)
            spec = manifest.spec.softmax(p + "softmax")
            for scores in golden[p + "scores"]:
                peak, inv_sum = single_pass_softmax(scores, manifest.accelerator
                                                    .attention_parallel, spec)
                probs = attention_probabilities(scores, peak, inv_sum, spec).to_float()
                exact = np.exp(scores.to_float() - scores.to_float().max(-1, keepdims=True))
                exact /= exact.sum(-1, keepdims=True)
                worst = max(worst, float(np.abs(probs - exact).max()))
                rows += scores.shape[0] * scores.shape[1]
    return worst, rows


@click.command("approx-report")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path),
              default=Path("reports/approx"), show_default=True)
@click.option("--artifact", type=click.Path(path_type=Path),
              help="Also check the whole softmax on this artifact's real attention scores.")
def approx_report(out_dir: Path, artifact: Path | None) -> None:
    """Error of exp, 1/x, 1/sqrt(x) and GELU against float64, with error curves (PNG)."""
    domains = default_domains()
    errors = [measure(domain) for domain in domains]
    rows, failed = [], []
    click.echo(f"{'name':<11} {'input -> output':<34} {'points':>8} {'max abs':>10} "
               f"{'mean abs':>10} {'max rel':>10}  target")
    for domain, error in zip(domains, errors, strict=True):
        rows.append(error_row(domain, error))
        kind, bound, ok = rows[-1]["target_kind"], rows[-1]["target"], rows[-1]["ok"]
        failed += [] if ok else [domain.name]
        formats = f"{domain.spec.input_fmt} -> {domain.spec.output_fmt}"
        click.echo(f"{domain.name:<11} {formats:<34} {len(error.inputs):>8} "
                   f"{rows[-1]['max_abs']:>10.3g} {rows[-1]['mean_abs']:>10.3g} "
                   f"{rows[-1]['max_rel']:>10.3g}  {kind} <= {bound:.3g} "
                   f"{'OK' if ok else 'MISSED'}")
    if artifact is not None:
        worst, count = softmax_error(artifact)
        ok = worst <= SOFTMAX_TARGET
        failed += [] if ok else ["softmax"]
        rows.append({"name": "softmax", "attention_rows": count, "max_abs": worst,
                     "target_kind": "abs", "target": SOFTMAX_TARGET, "ok": ok})
        where = f"{count} attention rows of {artifact}"
        click.echo(f"{'softmax':<11} {where:<44} max abs {worst:.3g}  abs <= "
                   f"{SOFTMAX_TARGET:.3g} {'OK' if ok else 'MISSED'}")
    try:
        with output_folder(out_dir, "approx-report") as folder:
            plot_errors(domains, errors, folder / "approx_errors.png")
            (folder / "approx_errors.json").write_text(json.dumps(rows, indent=2))
    except OutputError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"curves: {out_dir / 'approx_errors.png'}")
    if failed:
        raise click.ClickException(f"targets missed: {', '.join(failed)}")
