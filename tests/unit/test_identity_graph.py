"""The recogniser's PRelu rewrite changes how ONNX Runtime computes an embedding, never its value."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from likeness.identity.graph import prelu_as_depthwise
from likeness.identity.models import (
    DEFAULT_RECOGNISER,
    FacePack,
    cpu_recogniser,
    default_pack_dir,
    ort_session_options,
)
from likeness.identity.settings import IdentitySettings
from tests.fixtures.identity import t1_image


def _session(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(
        model.SerializeToString(), ort_session_options(1, 1), providers=["CPUExecutionProvider"]
    )


def _conv_prelu(slope: np.ndarray, channels: int = 8) -> onnx.ModelProto:
    """x -> Conv(3x3, ``channels``) -> PRelu(slope) -> y, with random weights."""
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(channels, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["z"], pads=[1, 1, 1, 1]),
            helper.make_node("PRelu", ["z", "slope"], ["y"]),
        ],
        "conv_prelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", channels, 16, 16])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(slope.astype(np.float32), "slope")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _op_types(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


def test_a_per_channel_prelu_is_rewritten_and_gives_the_same_floats() -> None:
    slope = np.linspace(-0.5, 0.9, 8).reshape(8, 1, 1)
    stock = _conv_prelu(slope)
    rewritten = _conv_prelu(slope)
    assert prelu_as_depthwise(rewritten) == 1
    assert "PRelu" not in _op_types(rewritten)
    onnx.checker.check_model(rewritten)
    inputs = {"x": np.random.default_rng(1).normal(size=(4, 3, 16, 16)).astype(np.float32)}
    expected = _session(stock).run(None, inputs)[0]
    actual = _session(rewritten).run(None, inputs)[0]
    assert (expected < 0).any() and (expected > 0).any()
    np.testing.assert_array_equal(actual, expected)


def test_a_prelu_with_one_shared_slope_is_left_alone() -> None:
    model = _conv_prelu(np.array([[[0.25]]]))
    assert prelu_as_depthwise(model) == 0
    assert _op_types(model) == ["Conv", "PRelu"]


def test_the_default_recogniser_gives_identical_embeddings_after_the_rewrite() -> None:
    path = default_pack_dir() / DEFAULT_RECOGNISER
    model = onnx.load_model(str(path))
    prelus = _op_types(model).count("PRelu")
    assert prelu_as_depthwise(model) == prelus > 0
    assert "PRelu" not in _op_types(model)

    from insightface.model_zoo import model_zoo

    stock = model_zoo.get_model(str(path), providers=["CPUExecutionProvider"])
    ours = cpu_recogniser(path, ort_session_options(1, 1))
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 256, size=(112, 112, 3), dtype=np.uint8) for _ in range(2)]
    pack = FacePack(IdentitySettings(jwt_keys=[], use_cuda=False))
    photo = t1_image()
    faces = [pack.align(photo, face) for face in pack.detect(photo)]
    assert len(faces) == 6
    np.testing.assert_array_equal(ours.get_feat(noise + faces), stock.get_feat(noise + faces))
    # The service's own pack (which rewrites the graph on the CPU) gives the same embeddings too.
    np.testing.assert_array_equal(pack.recogniser.get_feat(faces), stock.get_feat(faces))
