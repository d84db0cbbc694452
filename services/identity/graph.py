"""ONNX graph rewrites for the CPU that leave every output bit for bit the same.

ArcFace recognisers put a per-channel ``PRelu`` after most convolutions. ONNX Runtime's CPU ``PRelu``
broadcasts its slope element by element and cannot run in the blocked (NCHWc) layout its
convolutions use, so each one also converts the tensor out of that layout and back: on the default
pack's MobileFaceNet, a third of a face's time. :func:`prelu_as_depthwise` writes each such
``PRelu`` as operations ONNX Runtime keeps in that layout::

    PRelu(z) = Relu(z) + DepthwiseConv[-slope](Relu(DepthwiseConv[-1](z)))

For every element one of the two terms is exactly zero and each multiplication has one rounding, as
``PRelu``'s own does, so the result is the same float.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference


def prelu_as_depthwise(model: onnx.ModelProto) -> int:
    """Rewrite, in place, each per-channel ``PRelu`` on a 4-D tensor; return how many were rewritten.

    A ``PRelu`` whose slope is not a constant of shape (C, 1, 1) or (1, C, 1, 1), or whose input is not
    known to be 4-D, is left as it is.
    """
    graph = model.graph
    constants = {initializer.name: initializer for initializer in graph.initializer}
    ranks = _ranks(model)
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | set(constants)
    rewritten = 0
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        slope = _channel_slope(node, constants, ranks)
        if slope is None:
            nodes.append(node)
            continue
        rewritten += 1
        value, _ = node.input
        (output,) = node.output
        channels = slope.shape[0]
        prefix = _unused_prefix(f"{node.name or 'prelu'}_{rewritten}_", taken)
        minus_one, minus_slope = f"{prefix}minus_one", f"{prefix}minus_slope"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.full((channels, 1, 1, 1), -1.0, dtype=np.float32), minus_one),
                numpy_helper.from_array(-slope.reshape(channels, 1, 1, 1), minus_slope),
            ]
        )
        depthwise = {"group": channels, "kernel_shape": [1, 1]}
        nodes.extend(
            [
                helper.make_node("Relu", [value], [f"{prefix}positive"]),
                helper.make_node("Conv", [value, minus_one], [f"{prefix}negated"], **depthwise),
                helper.make_node("Relu", [f"{prefix}negated"], [f"{prefix}negative_part"]),
                helper.make_node(
                    "Conv", [f"{prefix}negative_part", minus_slope], [f"{prefix}scaled"], **depthwise
                ),
                helper.make_node("Add", [f"{prefix}scaled", f"{prefix}positive"], [output]),
            ]
        )
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def _channel_slope(
    node: onnx.NodeProto, constants: dict[str, onnx.TensorProto], ranks: dict[str, int]
) -> np.ndarray | None:
    if node.op_type != "PRelu" or len(node.input) != 2 or node.input[1] not in constants:
        return None
    if ranks.get(node.input[0]) != 4:
        return None
    slope = numpy_helper.to_array(constants[node.input[1]])
    if slope.dtype != np.float32 or slope.ndim not in (3, 4) or slope.shape[-2:] != (1, 1):
        return None
    if slope.ndim == 4 and slope.shape[0] != 1:
        return None
    channels = slope.shape[-3]
    if channels < 2:  # one slope shared by every channel: the channel count is not known here
        return None
    return np.ascontiguousarray(slope.reshape(channels))


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    """The rank of every tensor shape inference can tell."""
    inferred = shape_inference.infer_shapes(model)
    values = [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    return {
        value.name: len(value.type.tensor_type.shape.dim)
        for value in values
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape")
    }


def _unused_prefix(prefix: str, taken: set[str]) -> str:
    candidate, number = prefix, 0
    while any(name.startswith(candidate) for name in taken):
        number += 1
        candidate = f"{prefix}{number}_"
    taken.add(candidate)
    return candidate
