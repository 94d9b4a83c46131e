"""An artifact's float model (``model_<task>.onnx``) checked as the export writes it, before
any runtime loads it: an ONNX graph, one input ``images`` of (n, 3, H, W), and every tensor
inside the file (external data would be read from beside the working folder, unchecked).

It needs the ``onnx`` package, which the board's image does not have; there the float
comparison that uses the graphs is skipped, and so is this check."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any


class GraphError(ValueError):
    """A float model that is not the graph the export writes."""


def can_check() -> bool:
    try:
        return importlib.util.find_spec("onnx") is not None
    except ImportError:
        return False


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            subgraphs = [attribute.g] if attribute.HasField("g") else []
            for subgraph in [*subgraphs, *attribute.graphs]:
                yield from _tensors(subgraph)


def check_graph(data: bytes, name: str, image: tuple[int, int, int]) -> None:
    """Refuse ``data`` unless it is an ONNX graph taking ``images`` of (n, *image) with no
    external data."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf's DecodeError and friends
        raise GraphError(f"{name} is not an ONNX graph: {err}") from None
    if any(tensor.external_data or tensor.data_location == onnx.TensorProto.EXTERNAL
           for tensor in _tensors(model.graph)):
        raise GraphError(f"{name} refers to external data files; the export embeds every "
                         "tensor")
    constants = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in constants]
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim][1:] if inputs else []
    if [i.name for i in inputs] != ["images"] or tuple(dims) != image:
        raise GraphError(f"{name} takes {[i.name for i in inputs]} of {dims}, not the images "
                         f"(n, {', '.join(map(str, image))}) the export gives it")
