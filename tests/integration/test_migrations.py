"""Migrations: the schema they build, idempotence, two replicas at once, edited history refused."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import psycopg
import pytest

from likeness.db import apply_migrations, load_migrations

EXPECTED_ASSETS_SCHEMA = {
    "brands": {"brand_id", "display_name", "created_by", "created_at"},
    "audit_events": {
        "brand_id",
        "sequence",
        "event_id",
        "event_time",
        "actor_subject",
        "actor_roles",
        "action",
        "target_type",
        "target_id",
        "request_id",
        "outcome",
        "details",
        "prev_hash",
        "hash",
    },
    "objects": {
        "object_id",
        "brand_id",
        "storage_key",
        "purpose",
        "content_type",
        "size_bytes",
        "sha256",
        "filename_hint",
        "created_by",
        "created_at",
    },
    "characters": {
        "character_id",
        "brand_id",
        "display_name",
        "description",
        "declared_attributes",
        "status",
        "current_identity_version",
        "revision",
        "created_by",
        "created_at",
        "updated_at",
        "archived_at",
        "erased_at",
        "erasure",
    },
    "consent_records": {
        "consent_id",
        "brand_id",
        "character_id",
        "subject_name",
        "purposes",
        "channels",
        "territories",
        "valid_from",
        "valid_until",
        "evidence_object_id",
        "evidence_sha256",
        "notes",
        "recorded_by",
        "created_at",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
    },
    "identity_versions": {
        "character_id",
        "version",
        "brand_id",
        "status",
        "z_id",
        "model_pack_id",
        "quality",
        "reference_photo_object_ids",
        "estimated_attributes",
        "collision_detected",
        "review_reason",
        "reviewed_by",
        "reviewed_at",
        "created_by",
        "created_at",
        "erased_at",
    },
    "generated_assets": {
        "generated_asset_id",
        "brand_id",
        "job_id",
        "clip_object_id",
        "c2pa_manifest_object_id",
        "shots",
        "characters",
        "purpose",
        "channel",
        "territory",
        "flagged",
        "flag_reasons",
        "provenance_manifest_sha256",
        "model",
        "scoring_model_pack_id",
        "request_sha256",
        "recorded_by",
        "created_at",
        "erased_at",
    },
    "generated_asset_characters": {
        "generated_asset_id",
        "character_id",
    },
    "schema_migrations": {"version", "name", "checksum", "applied_at"},
}


async def _columns(url: str, schema: str) -> dict[str, set[str]]:
    async with await psycopg.AsyncConnection.connect(url) as connection:
        cursor = await connection.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            (schema,),
        )
        tables: dict[str, set[str]] = {}
        for table, column in await cursor.fetchall():
            tables.setdefault(table, set()).add(column)
        return tables


async def _migrate(url: str, schema: str, migrations) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url) as connection:
        return await apply_migrations(connection, schema, migrations)


async def test_two_replicas_migrating_at_once_apply_each_migration_once(database_url: str) -> None:
    migrations = load_migrations("likeness.assets")
    schema = "assets_fresh"
    applied = await asyncio.gather(*(_migrate(database_url, schema, migrations) for _ in range(3)))
    assert sorted(version for result in applied for version in result) == [m.version for m in migrations]
    assert await _migrate(database_url, schema, migrations) == []
    assert await _columns(database_url, schema) == EXPECTED_ASSETS_SCHEMA


async def test_the_template_schema_is_what_the_migrations_build(database_url: str) -> None:
    assert await _columns(database_url, "assets") == EXPECTED_ASSETS_SCHEMA


async def test_an_edited_migration_is_refused(database_url: str) -> None:
    migrations = load_migrations("likeness.assets")
    edited = [dataclasses.replace(migrations[0], sql=migrations[0].sql + "\n-- edited\n"), *migrations[1:]]
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        await _migrate(database_url, "assets", edited)


async def test_stored_jobs_get_their_transition_purpose_and_channel_by_name(database_url: str) -> None:
    from likeness.generator.domain import Storyboard, Transition

    migrations = load_migrations("likeness.generator")
    schema = "generator_transitions"
    before = [migration for migration in migrations if migration.version < 5]
    await _migrate(database_url, schema, before)
    shot = {"prompt": "a red ball", "num_frames": 5, "num_inference_steps": 2}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        for key, transition in [("a", 2), ("b", 1), ("c", 0), ("d", None)]:  # as stored before 0005
            storyboard = {"shots": [shot]} | ({} if transition is None else {"transition": transition})
            await connection.execute(
                f'INSERT INTO "{schema}".jobs (job_id, brand_id, idempotency_key, request_sha256, state,'
                " purpose, channel, territory, strict_attribute_check, storyboard, created_by, progress,"
                " model) VALUES (gen_random_uuid(), 'acme', %s, repeat('0', 64), 'queued', 1, 1, 'FR',"
                " false, %s, 'test', '{}', '{}')",
                (key, json.dumps(storyboard)),
            )
    assert await _migrate(database_url, schema, migrations) == [5, 6]
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            f'SELECT idempotency_key, storyboard, purpose, channel FROM "{schema}".jobs'
            " ORDER BY idempotency_key"
        )
        rows = await cursor.fetchall()
    assert {(purpose, channel) for _, _, purpose, channel in rows} == {("advertising", "tv")}
    stored = {key: Storyboard.model_validate(value) for key, value, _, _ in rows}
    assert [stored[key].transition for key in "abcd"] == [Transition.CROSSFADE, Transition.CUT, None, None]
