"""The training manifest: the clips to prepare, read and checked line by line.

The manifest is JSON Lines, one clip per line::

    {"id": "clip-0001", "clip": "clips/0001.mp4", "caption": "a woman walks along a beach",
     "references": ["refs/ann-1.jpg", "refs/ann-2.jpg"], "person_id": "ann"}

``references`` holds 1 to 5 photos of the clip's person taken from other footage, so that the adapter
learns the identity rather than the clip. An optional ``face_boxes`` gives the subject's face in the
source clip's pixels (``[x1, y1, x2, y2]``, one box for the whole clip or one per source frame); with it,
the detected face that overlaps the box most is the subject, otherwise the largest face is. Relative
paths are read from the manifest's directory. A line that cannot be used is dropped with a reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Reference photos per clip, at most.
MAX_REFERENCES = 5


@dataclass(frozen=True)
class ManifestEntry:
    """One usable manifest line, its paths resolved."""

    id: str
    clip: Path
    caption: str
    references: tuple[Path, ...]
    person_id: str
    #: The subject's face in source-clip pixels: one box, or one per source frame; ``None``: none given.
    face_boxes: tuple[tuple[float, float, float, float], ...] | None = None


@dataclass(frozen=True)
class Dropped:
    """A manifest entry left out, and why. Lines without a usable id are named ``line N``."""

    id: str
    reason: str


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    if not all(isinstance(item, int | float) and not isinstance(item, bool) for item in value):
        return None
    x1, y1, x2, y2 = (float(item) for item in value)
    if not all(math.isfinite(item) for item in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def parse_entry(record: Any, base: Path) -> ManifestEntry:
    """One manifest record as an entry; ValueError naming what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("line is not a JSON object")
    for key in ("id", "clip", "caption", "person_id"):
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key!r} must be a non-empty string")
    references = record.get("references")
    if not isinstance(references, list) or not 1 <= len(references) <= MAX_REFERENCES:
        raise ValueError(f"'references' must be a list of 1 to {MAX_REFERENCES} photo paths")
    if not all(isinstance(path, str) and path for path in references):
        raise ValueError("'references' must hold non-empty path strings")
    boxes: tuple[tuple[float, float, float, float], ...] | None = None
    raw_boxes = record.get("face_boxes")
    if raw_boxes is not None:
        if not isinstance(raw_boxes, list) or not raw_boxes:
            raise ValueError("'face_boxes' must be a box [x1, y1, x2, y2] or a non-empty list of boxes")
        single = _box(raw_boxes)
        if single is not None:
            boxes = (single,)
        else:
            parsed = [_box(item) for item in raw_boxes]
            if any(item is None for item in parsed):
                raise ValueError(
                    "'face_boxes' holds a box that is not [x1, y1, x2, y2] with x2 > x1, y2 > y1"
                )
            boxes = tuple(item for item in parsed if item is not None)
    return ManifestEntry(
        id=record["id"],
        clip=base / record["clip"],
        caption=record["caption"],
        references=tuple(base / path for path in references),
        person_id=record["person_id"],
        face_boxes=boxes,
    )


def read_manifest(path: str | Path) -> tuple[list[ManifestEntry], list[Dropped]]:
    """The manifest's usable entries, in order, and its unusable lines with reasons."""
    manifest = Path(path)
    base = manifest.resolve().parent
    entries: list[ManifestEntry] = []
    dropped: list[Dropped] = []
    seen: set[str] = set()
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        name = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            dropped.append(Dropped(name, f"not valid JSON: {error.msg}"))
            continue
        if isinstance(record, dict) and isinstance(record.get("id"), str) and record["id"].strip():
            name = record["id"]
        try:
            entry = parse_entry(record, base)
        except ValueError as error:
            dropped.append(Dropped(name, f"invalid manifest entry: {error}"))
            continue
        if entry.id in seen:
            dropped.append(Dropped(f"{name} ({number})", f"duplicate id {entry.id!r} on line {number}"))
            continue
        seen.add(entry.id)
        entries.append(entry)
    return entries, dropped
