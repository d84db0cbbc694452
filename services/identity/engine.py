"""The face engine: models behind micro-batchers, shared by every request of the process.

Detection runs on one worker thread and recognition on another, so the detector can work on the
next photo or frame while the recogniser embeds the faces of the previous ones; faces from
concurrent requests share recogniser batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np
from numpy.typing import NDArray

from likeness.identity.batching import MicroBatcher
from likeness.identity.models import DEFAULT_PACK_LICENCE, AttributeEstimator, FaceAttributes, FacePack
from likeness.identity.quality import Face, FloatArray
from likeness.identity.settings import IdentitySettings

logger = logging.getLogger("likeness.identity")


class FaceEngine:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self.pack = FacePack(settings)
        self.attributes: AttributeEstimator | None = (
            AttributeEstimator() if settings.estimate_attributes else None
        )
        self._attribute_lock = threading.Lock()
        window_s = settings.batch_window_ms / 1000.0
        self.detector: MicroBatcher[NDArray[np.uint8], list[Face]] = MicroBatcher(
            "face-detector",
            self._detect_batch,
            max_batch=settings.detection_batch_size,
            window_s=window_s,
            max_queued=settings.max_queued_items,
            workers=settings.detection_workers,
        )
        self.recogniser: MicroBatcher[NDArray[np.uint8], NDArray[np.float32]] = MicroBatcher(
            "face-recogniser",
            self._embed_batch,
            max_batch=settings.recognition_batch_size,
            window_s=window_s,
            max_queued=settings.max_queued_items,
            workers=settings.recognition_workers,
        )

    @property
    def pack_id(self) -> str:
        return self.pack.pack_id

    @property
    def same_person_threshold(self) -> float:
        return self.pack.same_person_threshold

    def start(self) -> None:
        """Warm the sessions and start the workers (blocking: run it off the event loop)."""
        self.pack.warm_up()
        if self.attributes is not None:
            self.attributes.warm_up()
        self.detector.start()
        self.recogniser.start()
        logger.info(
            "face models loaded",
            extra={
                "model_pack_id": self.pack_id,
                "model_pack_dir": str(self.pack.files.directory),
                "providers": self.pack.active_providers,
                "same_person_threshold": self.same_person_threshold,
                "detector_input_size": self.settings.detector_input_size,
            },
        )
        if self.pack.files.is_default:
            logger.warning("licence: %s", DEFAULT_PACK_LICENCE, extra={"model_pack_id": self.pack_id})

    def stop(self) -> None:
        self.detector.stop()
        self.recogniser.stop()

    def _detect_batch(self, images: list[NDArray[np.uint8]]) -> list[list[Face]]:
        return [self.pack.detect(image) for image in images]

    def _embed_batch(self, crops: list[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        embeddings = self.pack.embed(crops)
        return [embeddings[index] for index in range(len(crops))]

    async def detect(self, image: NDArray[np.uint8]) -> list[Face]:
        (faces,) = await self.detector.run([image])
        return faces

    async def detect_many(self, images: list[NDArray[np.uint8]]) -> list[list[Face]]:
        return await self.detector.run(images)

    async def embed(self, crops: list[NDArray[np.uint8]]) -> FloatArray:
        """Unit embeddings of aligned crops, batched with every other request's faces."""
        if not crops:
            return np.zeros((0, 512), dtype=np.float32)
        return np.stack(await self.recogniser.run(crops)).astype(np.float32)

    async def analyse(
        self, image: NDArray[np.uint8], max_faces: int | None = None
    ) -> tuple[list[Face], FloatArray]:
        """Every face of an image (the largest ``max_faces``) with its unit embedding."""
        faces = await self.detect(image)
        faces = sorted(faces, key=lambda face: face.area, reverse=True)[:max_faces]
        # Alignment is a 112x112 warp per face: cheaper inline than a thread hop.
        return faces, await self.embed(self.align(image, faces))

    def align(self, image: NDArray[np.uint8], faces: list[Face]) -> list[NDArray[np.uint8]]:
        return [self.pack.align(image, face) for face in faces]

    async def estimate_attributes(self, image: NDArray[np.uint8], face: Face) -> FaceAttributes | None:
        if self.attributes is None:
            return None
        estimator = self.attributes

        def run() -> FaceAttributes | None:
            with self._attribute_lock:
                return estimator.estimate(image, face)

        return await asyncio.to_thread(run)
