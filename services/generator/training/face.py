"""A differentiable PyTorch copy of the identity service's ArcFace recogniser and face alignment.

:class:`TorchArcFace` runs an insightface ArcFace ONNX graph (by default the pack's ``w600k_mbf.onnx``)
node by node with torch operations, its initializers held as frozen parameters, so embeddings can be
back-propagated to the input pixels. :func:`align_faces` warps faces onto ArcFace's five-point
template with ``affine_grid`` and ``grid_sample``, differentiable in both the images and the landmarks.

Input convention of :class:`TorchArcFace`: RGB float tensors in ``[0, 1]`` of shape ``(N, 3, 112, 112)``.
The service feeds the ONNX model ``(rgb_uint8 - 127.5) / 127.5`` (``cv2.dnn.blobFromImages`` with
``swapRB=True`` on BGR crops), which is ``2 * x - 1`` for ``x = rgb_uint8 / 255``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from onnx import numpy_helper
from torch import Tensor, nn

from likeness.identity.quality import ARCFACE_TEMPLATE as _SERVICE_TEMPLATE

__all__ = [
    "ARCFACE_TEMPLATE",
    "OnnxGraph",
    "TorchArcFace",
    "align_faces",
    "default_recogniser_path",
    "similarity_matrices",
]

#: Where the five landmarks (left eye, right eye, nose tip, left and right mouth corners, as seen in the
#: image) sit in ArcFace's 112x112 crop: the identity service's own template.
ARCFACE_TEMPLATE = torch.from_numpy(_SERVICE_TEMPLATE.copy())


def default_recogniser_path() -> Path:
    """The recogniser of the identity service's default pack (``w600k_mbf.onnx``)."""
    from likeness.identity.models import DEFAULT_RECOGNISER, default_pack_dir

    return default_pack_dir() / DEFAULT_RECOGNISER


def _attributes(node: onnx.NodeProto) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        values[attribute.name] = value
    return values


def _symmetric_padding(pads: Sequence[int], spatial: int) -> tuple[list[int], list[int] | None]:
    """ONNX pads (all begins, then all ends) as a conv ``padding`` plus an explicit ``F.pad`` for any
    asymmetric remainder (``None`` when the padding is symmetric)."""
    begins, ends = list(pads[:spatial]), list(pads[spatial:])
    if begins == ends:
        return begins, None
    explicit: list[int] = []
    for begin, end in zip(reversed(begins), reversed(ends), strict=True):
        explicit += [begin, end]
    return [0] * spatial, explicit


class OnnxGraph(nn.Module):
    """A small ONNX interpreter: the graph's nodes run in order as torch operations.

    Initializers become frozen ``nn.Parameter`` s (call ``requires_grad_()`` to fine-tune them). The
    operator set covers convolutional recognisers (ArcFace ResNets and MobileFaceNets of insightface);
    an unknown operator fails at construction, never silently at run time.
    """

    def __init__(self, model: onnx.ModelProto | str | Path) -> None:
        super().__init__()
        if not isinstance(model, onnx.ModelProto):
            model = onnx.load_model(str(model))
        graph = model.graph
        self.weights = nn.ParameterDict()
        self._weight_keys: dict[str, str] = {}
        for initializer in graph.initializer:
            self._hold(initializer.name, np.array(numpy_helper.to_array(initializer)))
        known = set(self._weight_keys)
        self.input_names = [value.name for value in graph.input if value.name not in known]
        self.output_names = [value.name for value in graph.output]
        self.nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                raise NotImplementedError(f"ONNX domain {node.domain!r} of node {node.name!r}")
            attributes = _attributes(node)
            if node.op_type == "Constant" and "value" in attributes:
                # Held like an initializer, so it moves with the module between devices.
                self._hold(node.output[0], np.array(attributes["value"]))
                continue
            if node.op_type not in _OPS:
                raise NotImplementedError(f"ONNX operator {node.op_type} (node {node.name!r})")
            self.nodes.append((node.op_type, list(node.input), list(node.output), attributes))

    def _hold(self, name: str, array: NDArray[Any]) -> None:
        """A constant of the graph as a frozen parameter (floating point) or a buffer (integers)."""
        tensor = torch.from_numpy(array)
        key = f"w{len(self._weight_keys)}_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"
        if tensor.is_floating_point():
            self.weights[key] = nn.Parameter(tensor, requires_grad=False)
        else:
            self.register_buffer(key, tensor, persistent=True)
        self._weight_keys[name] = key

    def _constant(self, name: str) -> Tensor:
        key = self._weight_keys[name]
        value: Tensor = self.weights[key] if key in self.weights else getattr(self, key)
        return value

    def forward(self, *inputs: Tensor) -> Tensor | tuple[Tensor, ...]:
        if len(inputs) != len(self.input_names):
            raise ValueError(f"the graph takes {len(self.input_names)} inputs, got {len(inputs)}")
        values: dict[str, Tensor] = dict(zip(self.input_names, inputs, strict=True))

        def fetch(name: str) -> Tensor:
            if not name:  # an omitted optional input
                return _ABSENT
            if name in values:
                return values[name]
            return self._constant(name)

        for op_type, input_names, output_names, attributes in self.nodes:
            arguments = [fetch(name) for name in input_names]
            results = _OPS[op_type](arguments, attributes)
            if isinstance(results, Tensor):
                results = (results,)
            for name, result in zip(output_names, results, strict=False):
                if name:
                    values[name] = result
        outputs = tuple(values[name] for name in self.output_names)
        return outputs[0] if len(outputs) == 1 else outputs


_ABSENT = torch.empty(0)
Op = Callable[[list[Tensor], dict[str, Any]], Tensor | tuple[Tensor, ...]]


def _conv(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x, weight = args[0], args[1]
    bias = args[2] if len(args) > 2 and args[2].numel() > 0 else None
    spatial = weight.dim() - 2
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise NotImplementedError(f"Conv auto_pad={attrs['auto_pad']}")
    padding, explicit = _symmetric_padding(attrs.get("pads", [0] * 2 * spatial), spatial)
    if explicit is not None:
        x = F.pad(x, explicit)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[spatial]
    return conv(
        x,
        weight,
        bias,
        stride=attrs.get("strides", [1] * spatial),
        padding=padding,
        dilation=attrs.get("dilations", [1] * spatial),
        groups=attrs.get("group", 1),
    )


def _batch_norm(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x, scale, bias, mean, var = args[:5]
    return F.batch_norm(x, mean, var, scale, bias, training=False, eps=attrs.get("epsilon", 1e-5))


def _prelu(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x, slope = args
    if x.dim() >= 2 and slope.numel() == x.shape[1] and slope.dim() == x.dim() - 1:
        return F.prelu(x, slope.reshape(-1))
    return torch.where(x >= 0, x, x * slope)


def _gemm(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    a, b = args[0], args[1]
    if attrs.get("transA", 0):
        a = a.transpose(-1, -2)
    if attrs.get("transB", 0):
        b = b.transpose(-1, -2)
    out: Tensor = float(attrs.get("alpha", 1.0)) * (a @ b)
    if len(args) > 2 and args[2].numel() > 0:
        out = out + float(attrs.get("beta", 1.0)) * args[2]
    return out


def _flatten(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x = args[0]
    axis = attrs.get("axis", 1) % max(x.dim(), 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _reshape(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x, shape = args[0], [int(value) for value in args[1].tolist()]
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if value == 0 else value for i, value in enumerate(shape)]
    return x.reshape(shape)


def _global_average_pool(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x = args[0]
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


def _concat(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    return torch.cat(args, dim=attrs["axis"])


def _transpose(args: list[Tensor], attrs: dict[str, Any]) -> Tensor:
    x = args[0]
    return x.permute(attrs.get("perm", list(range(x.dim()))[::-1]))


_OPS: dict[str, Op] = {
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "PRelu": _prelu,
    "Relu": lambda args, attrs: F.relu(args[0]),
    "Sigmoid": lambda args, attrs: torch.sigmoid(args[0]),
    "Add": lambda args, attrs: args[0] + args[1],
    "Sub": lambda args, attrs: args[0] - args[1],
    "Mul": lambda args, attrs: args[0] * args[1],
    "Div": lambda args, attrs: args[0] / args[1],
    "Gemm": _gemm,
    "MatMul": lambda args, attrs: args[0] @ args[1],
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Concat": _concat,
    "GlobalAveragePool": _global_average_pool,
    "Identity": lambda args, attrs: args[0],
    "Dropout": lambda args, attrs: args[0],
}


def _normalisation_of(model: onnx.ModelProto) -> tuple[float, float]:
    """insightface's rule (``ArcFaceONNX``): graphs converted from MXNet normalise their own input
    (a ``Sub`` and a ``Mul`` among the first nodes) and take raw 0..255 pixels; others take
    ``(pixel - 127.5) / 127.5``."""
    names = [node.name for node in model.graph.node[:8]]
    has_sub = any(name.startswith(("Sub", "_minus")) for name in names)
    has_mul = any(name.startswith(("Mul", "_mul")) for name in names)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


class TorchArcFace(nn.Module):
    """ArcFace embeddings of aligned faces, matching insightface's ``ArcFaceONNX.get_feat``.

    ``forward`` takes RGB faces in ``[0, 1]``, shape ``(N, 3, S, S)`` with ``S`` the graph's input size
    (112 for the default pack), aligned onto :data:`ARCFACE_TEMPLATE`, and returns unit-length embeddings
    ``(N, 512)``. The weights are frozen and the module is in eval mode; gradients flow to the input.
    With ``channels_last`` (the default) convolutions run in NHWC layout, about twice as fast on the CPU
    for batches and usually faster on CUDA; the numbers agree with NCHW to float rounding.
    """

    _scale: Tensor
    _shift: Tensor

    def __init__(self, model_path: str | Path | None = None, channels_last: bool = True) -> None:
        super().__init__()
        path = Path(model_path) if model_path is not None else default_recogniser_path()
        model = onnx.load_model(str(path))
        dims = [dim.dim_value for dim in model.graph.input[0].type.tensor_type.shape.dim]
        self.input_size = int(dims[-1]) if len(dims) == 4 and dims[-1] > 0 else 112
        mean, std = _normalisation_of(model)
        # x in [0, 1] -> (255 x - mean) / std, as one multiply-add.
        self.register_buffer("_scale", torch.tensor(255.0 / std), persistent=False)
        self.register_buffer("_shift", torch.tensor(-mean / std), persistent=False)
        self.graph = OnnxGraph(model)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            for weight in self.graph.weights.values():
                if weight.dim() == 4:
                    weight.data = weight.data.contiguous(memory_format=torch.channels_last)
        self.eval()

    def raw_features(self, faces: Tensor) -> Tensor:
        """The graph's un-normalised output for RGB faces in ``[0, 1]``."""
        if faces.dim() != 4 or faces.shape[1] != 3:
            size = self.input_size
            raise ValueError(f"expected (N, 3, {size}, {size}), got {tuple(faces.shape)}")
        scaled = (faces * self._scale + self._shift).contiguous(memory_format=self.memory_format)
        output = self.graph(scaled)
        assert isinstance(output, Tensor)
        return output

    def forward(self, faces: Tensor) -> Tensor:
        return F.normalize(self.raw_features(faces), dim=1)


def similarity_matrices(source: Tensor, target: Tensor) -> Tensor:
    """Least-squares similarity transforms (rotation, uniform scale, translation) taking ``source``
    points onto ``target`` points, as ``(N, 2, 3)`` matrices.

    ``source`` is ``(N, K, 2)``, ``target`` ``(K, 2)`` or ``(N, K, 2)``. This is the closed form of the
    fit over ``[[a, -b], [b, a]]``, the same minimiser as Umeyama's SVD solution with its reflection
    guard (as the service computes it), but smooth: no SVD in the backward pass.
    """
    target = target.to(source).expand_as(source)
    source_mean = source.mean(dim=1, keepdim=True)
    target_mean = target.mean(dim=1, keepdim=True)
    sx, sy = (source - source_mean).unbind(-1)
    tx, ty = (target - target_mean).unbind(-1)
    variance = (sx * sx + sy * sy).sum(dim=1).clamp_min(torch.finfo(source.dtype).tiny)
    a = (sx * tx + sy * ty).sum(dim=1) / variance
    b = (sx * ty - sy * tx).sum(dim=1) / variance
    linear = torch.stack([torch.stack([a, -b], dim=-1), torch.stack([b, a], dim=-1)], dim=-2)
    translation = target_mean.squeeze(1) - (linear @ source_mean.transpose(1, 2)).squeeze(-1)
    return torch.cat([linear, translation.unsqueeze(-1)], dim=-1)


def _pixel_to_normalised(width: int, height: int, reference: Tensor) -> Tensor:
    """The 3x3 map from pixel-centre coordinates to ``grid_sample``'s ``align_corners=False`` range."""
    return reference.new_tensor(
        [[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0], [0.0, 0.0, 1.0]]
    )


def align_faces(images: Tensor, landmarks: Tensor, size: int = 112, quantise: bool = False) -> Tensor:
    """Faces warped onto ArcFace's template, ``(N, C, size, size)``, as the service's ``align_face``
    (``cv2.warpAffine`` of the similarity fit, bilinear, zeros outside the image) does.

    ``images`` is ``(N, C, H, W)`` float in any range (give RGB ``[0, 1]`` for :class:`TorchArcFace`);
    ``landmarks`` is ``(N, 5, 2)`` in ``(x, y)`` pixel coordinates of the images, pixel centres at
    integers (the detector's convention). Differentiable in both.

    ``quantise`` rounds the crops to whole 1/255 steps, as the service's uint8 crops are, with a
    straight-through gradient (the backward pass ignores the rounding); for ``[0, 1]`` images only.
    """
    if images.dim() != 4 or landmarks.shape[0] != images.shape[0] or landmarks.shape[-2:] != (5, 2):
        raise ValueError(f"images {tuple(images.shape)} and landmarks {tuple(landmarks.shape)} do not match")
    dtype = images.dtype if images.is_floating_point() else torch.float32
    points = landmarks.to(device=images.device, dtype=torch.float64)
    template = ARCFACE_TEMPLATE.to(device=images.device, dtype=torch.float64) * (size / 112.0)
    forward = similarity_matrices(points, template)
    bottom = forward.new_tensor([0.0, 0.0, 1.0]).expand(forward.shape[0], 1, 3)
    # Output pixel -> source pixel (warpAffine inverts the matrix), between normalised coordinates.
    inverse = torch.linalg.inv(torch.cat([forward, bottom], dim=1))
    height, width = images.shape[-2:]
    theta = (
        _pixel_to_normalised(width, height, inverse)
        @ inverse
        @ torch.linalg.inv(_pixel_to_normalised(size, size, inverse))
    )[:, :2]
    grid = F.affine_grid(theta.to(dtype), [images.shape[0], images.shape[1], size, size], align_corners=False)
    faces = F.grid_sample(images.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if quantise:
        faces = faces + ((faces.detach() * 255.0).round().clamp(0, 255) / 255.0 - faces.detach())
    return faces
