"""EncodeIdentity: reference photos → one identity with a quality report per photo."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from likeness.errors import FailedPrecondition, PreconditionViolation
from likeness.identity.engine import FaceEngine
from likeness.identity.models import FaceAttributes
from likeness.identity.quality import (
    Face,
    FloatArray,
    Measurements,
    Rejection,
    Thresholds,
    aggregate,
    cosine,
    dominant_face,
    exposure,
    face_region,
    find_outliers,
    gate,
    head_pose,
    laplacian_variance,
    similarity_to_others,
)

# The largest face counts as the subject only when its area is at least this many times the next one's.
DOMINANT_AREA_RATIO = 2.0
MAX_FACES_MEASURED = 32


@dataclass
class PhotoReport:
    index: int
    label: str
    width_px: int
    height_px: int
    face_count: int
    measurements: Measurements | None
    rejection: Rejection | None = None
    rejection_message: str = ""
    mean_similarity_to_others: float | None = None
    similarity_to_aggregate: float | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


@dataclass(frozen=True)
class AgeEstimate:
    years: float
    low_years: float
    high_years: float
    confidence: float


@dataclass(frozen=True)
class GenderEstimate:
    value: str  # "female" or "male"
    confidence: float


@dataclass(frozen=True)
class EncodedIdentity:
    z_id: FloatArray
    model_pack_id: str
    reports: list[PhotoReport]
    consistency_score: float
    accepted_count: int
    age: AgeEstimate | None
    gender: GenderEstimate | None
    thresholds: Thresholds


@dataclass(frozen=True)
class Photo:
    """A decoded reference photo (BGR) and its caller label."""

    image: NDArray[np.uint8]
    label: str


def _measure(
    image: NDArray[np.uint8], faces: list[Face], crop: NDArray[np.uint8] | None
) -> Measurements | None:
    face, clearly_dominant = dominant_face(faces, DOMINANT_AREA_RATIO)
    if face is None or crop is None:
        return None
    grey = (0.114 * crop[..., 0] + 0.587 * crop[..., 1] + 0.299 * crop[..., 2]).astype(np.uint8)
    return Measurements(
        face=face,
        clearly_dominant=clearly_dominant,
        blur_variance=laplacian_variance(grey),
        exposure=exposure(face_region(image, face)),
        pose=head_pose(face.landmarks),
    )


def combine_attributes(estimates: list[FaceAttributes]) -> tuple[AgeEstimate | None, GenderEstimate | None]:
    """One age and gender from the accepted photos: averages, with confidence that falls when the
    photos disagree."""
    if not estimates:
        return None, None
    ages = [estimate.age_years for estimate in estimates]
    years = statistics.fmean(ages)
    spread = statistics.pstdev(ages) if len(ages) > 1 else 0.0
    model_confidence = statistics.fmean(estimate.age_confidence for estimate in estimates)
    # The age model's typical error is about five years; disagreement between photos widens it.
    half_range = max(5.0, 2.0 * spread)
    age = AgeEstimate(
        years=years,
        low_years=max(0.0, years - half_range),
        high_years=years + half_range,
        confidence=float(np.clip(model_confidence * max(0.0, 1.0 - spread / 10.0), 0.0, 1.0)),
    )
    votes: dict[str, float] = {}
    for estimate in estimates:
        votes[estimate.gender] = votes.get(estimate.gender, 0.0) + estimate.gender_confidence
    winner = max(votes, key=lambda value: votes[value])
    agreeing = [estimate.gender_confidence for estimate in estimates if estimate.gender == winner]
    share = len(agreeing) / len(estimates)
    gender = GenderEstimate(
        value=winner, confidence=float(np.clip(statistics.fmean(agreeing) * share, 0.0, 1.0))
    )
    return age, gender


async def encode_identity(engine: FaceEngine, photos: list[Photo], thresholds: Thresholds) -> EncodedIdentity:
    """Detect, measure, embed, gate, reject outliers and aggregate. Raises FailedPrecondition with one
    violation per photo when no photo is accepted."""
    detections = await engine.detect_many([photo.image for photo in photos])

    def measure_all() -> tuple[list[Measurements | None], list[NDArray[np.uint8] | None]]:
        measured: list[Measurements | None] = []
        crops: list[NDArray[np.uint8] | None] = []
        for photo, faces in zip(photos, detections, strict=True):
            face, _ = dominant_face(faces[:MAX_FACES_MEASURED], DOMINANT_AREA_RATIO)
            crop = engine.align(photo.image, [face])[0] if face is not None else None
            crops.append(crop)
            measured.append(_measure(photo.image, faces[:MAX_FACES_MEASURED], crop))
        return measured, crops

    measured, crops = await asyncio.to_thread(measure_all)
    with_face = [index for index, crop in enumerate(crops) if crop is not None]
    embeddings = await engine.embed([crop for crop in crops if crop is not None])

    reports = []
    for index, (photo, faces, measurement) in enumerate(zip(photos, detections, measured, strict=True)):
        height, width = photo.image.shape[:2]
        rejection, message = gate(measurement, thresholds)
        reports.append(
            PhotoReport(
                index=index,
                label=photo.label,
                width_px=width,
                height_px=height,
                face_count=len(faces),
                measurements=measurement,
                rejection=rejection,
                rejection_message=message,
            )
        )

    embedding_of = {photo_index: embeddings[row] for row, photo_index in enumerate(with_face)}
    for row, mean_similarity in enumerate(similarity_to_others(embeddings)):
        reports[with_face[row]].mean_similarity_to_others = mean_similarity

    passed = [report.index for report in reports if report.accepted]
    if passed:
        passed_embeddings = np.stack([embedding_of[index] for index in passed])
        for position in find_outliers(passed_embeddings, thresholds.outlier_similarity_threshold):
            report = reports[passed[position]]
            others = [embedding_of[index] for index in passed if index != report.index]
            similarity = float(embedding_of[report.index] @ aggregate(np.stack(others))) if others else 0.0
            report.rejection = Rejection.OUTLIER
            report.rejection_message = (
                f"face does not match the other photos: similarity {similarity:.2f}, "
                f"at least {thresholds.outlier_similarity_threshold:.2f} needed"
            )

    accepted = [report for report in reports if report.accepted]
    if not accepted:
        raise FailedPrecondition(
            "no reference photo was accepted: "
            + "; ".join(f"photo {report.index}: {report.rejection_message}" for report in reports),
            [
                PreconditionViolation(
                    type=f"PHOTO_REJECTION_REASON_{report.rejection.name}",
                    subject=f"reference_photos[{report.index}]",
                    description=report.rejection_message,
                )
                for report in reports
                if report.rejection is not None
            ],
        )

    accepted_embeddings = np.stack([embedding_of[report.index] for report in accepted])
    z_id = aggregate(accepted_embeddings)
    for index, embedding in embedding_of.items():
        reports[index].similarity_to_aggregate = cosine(embedding @ z_id)
    consistency = cosine(float(np.mean(accepted_embeddings @ z_id)))

    attribute_estimates = []
    for report in accepted:
        assert report.measurements is not None
        estimate = await engine.estimate_attributes(photos[report.index].image, report.measurements.face)
        if estimate is not None:
            attribute_estimates.append(estimate)
    age, gender = combine_attributes(attribute_estimates)

    return EncodedIdentity(
        z_id=z_id,
        model_pack_id=engine.pack_id,
        reports=reports,
        consistency_score=consistency,
        accepted_count=len(accepted),
        age=age,
        gender=gender,
        thresholds=thresholds,
    )
