"""Tables the CLI prints: ids the user must copy are never cut short, and characters go by name."""

from __future__ import annotations

import io

from google.protobuf import timestamp_pb2
from rich.console import Console

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.cli.characters import _consent_table
from likeness.cli.jobs import _scores_table

CONSENT = "ca40388e-502d-4c1b-9a51-0c1d2e3f4a5b"
CHARACTER = "0b7e9c1d-2f3a-4b5c-8d6e-7f8091a2b3c4"


def rendered(table: object, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_a_consent_id_is_printed_whole_at_120_columns() -> None:
    consent = assets_pb.ConsentRecord(
        consent_id=CONSENT,
        subject_name="Ava Example, represented by Example Talent Agency Ltd",
        purposes=[usage_pb2.USAGE_PURPOSE_ADVERTISING, usage_pb2.USAGE_PURPOSE_SOCIAL],
        channels=[usage_pb2.USAGE_CHANNEL_ONLINE_VIDEO, usage_pb2.USAGE_CHANNEL_TV],
        territories=["FR", "DE", "US"],
        valid_from=timestamp_pb2.Timestamp(seconds=1_800_000_000),
    )
    assert CONSENT in rendered(_consent_table([consent]), 120)


def test_scores_go_by_the_storyboards_names_where_known() -> None:
    job = generator_pb.Job()
    result = job.shot_results.add(shot_index=0)
    result.identity_scores.add(character_id=CHARACTER, identity_version=1, no_face_fraction=0.0)
    result.identity_scores.add(character_id=CONSENT, identity_version=2, no_face_fraction=0.0)
    text = rendered(_scores_table(job, {CHARACTER: "ava"}), 120)
    assert "ava" in text and CHARACTER not in text
    assert CONSENT in text  # a character without a known name keeps its whole id
