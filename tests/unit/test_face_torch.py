"""The differentiable face model of the trainer's loss against the identity service's own path: the same
ArcFace weights on ONNX Runtime, the service's alignment, the real test photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from likeness.generator.training.face import TorchArcFace, align_faces
from likeness.identity.models import FacePack
from likeness.identity.settings import IdentitySettings
from tests.fixtures.identity import astronaut, augmentations, t1_image


@pytest.fixture(scope="module")
def pack() -> FacePack:
    return FacePack(IdentitySettings(jwt_keys=[], use_cuda=False))


@pytest.fixture(scope="module")
def model(pack: FacePack) -> TorchArcFace:
    return TorchArcFace(pack.files.recogniser)


def rgb_tensor(bgr: np.ndarray) -> torch.Tensor:
    rgb = np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.float32) / 255.0
    return torch.from_numpy(rgb).permute(2, 0, 1)[None]


def photos() -> dict[str, np.ndarray]:
    found = {"t1": t1_image(), "astronaut": astronaut()}
    found.update({f"astronaut-{name}": image for name, image in augmentations(astronaut()).items()})
    return found


def test_torch_embeddings_match_onnx_runtime_on_the_test_photos(pack: FacePack, model: TorchArcFace) -> None:
    cosines: dict[str, float] = {}
    aligned_cosines: dict[str, float] = {}
    for name, image in photos().items():
        for index, face in enumerate(pack.detect(image)):
            crop = pack.align(image, face)
            service = pack.embed([crop])[0]
            landmarks = torch.from_numpy(np.asarray(face.landmarks, dtype=np.float32))[None]
            with torch.no_grad():
                ours = model(rgb_tensor(crop))[0].numpy()
                ours_aligned = model(align_faces(rgb_tensor(image), landmarks, quantise=True))[0].numpy()
            cosines[f"{name}/{index}"] = float(ours @ service)
            aligned_cosines[f"{name}/{index}"] = float(ours_aligned @ service)
    assert len(cosines) >= 5, cosines
    assert min(cosines.values()) >= 0.999, cosines
    # Our alignment (rounded to pixel levels as the service's crop is) + our model: the service's answer.
    assert min(aligned_cosines.values()) >= 0.999, aligned_cosines


def test_the_loss_reaches_the_pixels_and_the_landmarks(pack: FacePack, model: TorchArcFace) -> None:
    image = t1_image()
    (face, *_) = pack.detect(image)
    reference = torch.from_numpy(pack.embed([pack.align(image, face)])[0])
    pixels = rgb_tensor(image)[:, :, ::2, ::2].contiguous().requires_grad_(True)  # a smaller frame
    landmarks = (torch.from_numpy(np.asarray(face.landmarks, dtype=np.float32)) / 2)[None].requires_grad_(
        True
    )
    embedding = model(align_faces(pixels, landmarks))
    loss = 1 - (embedding[0] * reference).sum()
    loss.backward()  # type: ignore[no-untyped-call]
    assert pixels.grad is not None and landmarks.grad is not None
    assert torch.isfinite(pixels.grad).all() and pixels.grad.abs().sum() > 0
    assert torch.isfinite(landmarks.grad).all()
    assert float(loss) < 0.2  # the half-size frame is still the same person to the model
