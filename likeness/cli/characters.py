"""User commands on characters, their identities and their consent records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from google.protobuf import timestamp_pb2
from rich.table import Table

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import faces_pb2, usage_pb2
from likeness.api.identity.v1 import identity_service_pb2 as identity_pb
from likeness.cli.common import (
    EXIT_USAGE,
    CharacterId,
    Cli,
    CliFailure,
    cli_state,
    command,
    emit_listing,
    enum_name,
    enum_value,
    fields_table,
    id_column,
    out_console,
    to_dict,
    when,
)
from likeness.cli.registry import upload_file
from likeness.sdk import AssetsClient, LikenessError
from likeness.sdk.pages import items

character_app = typer.Typer(
    help="Characters: digital actors with a locked face identity.", no_args_is_help=True
)
consent_app = typer.Typer(help="Consent records of the people behind characters.", no_args_is_help=True)

Photos = Annotated[
    list[Path],
    typer.Option(
        "--photo",
        help="A reference photo (JPEG, PNG or WebP), 1-5 of the same person.",
        exists=True,
        dir_okay=False,
    ),
]


# --- consent options shared by `character create` and `consent record` ----------------------------


def _parse_time(value: str, option: str) -> timestamp_pb2.Timestamp:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliFailure(
            f"{option}: {value!r} is not an ISO 8601 date or time (e.g. 2027-12-31)", EXIT_USAGE
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def record_consent(
    assets: AssetsClient,
    character_id: str,
    *,
    subject: str,
    evidence: Path,
    purposes: list[str],
    channels: list[str],
    territories: list[str],
    valid_from: str | None,
    valid_until: str | None,
    notes: str = "",
) -> assets_pb.ConsentRecord:
    """Upload the evidence and record the consent against it."""
    request = assets_pb.RecordConsentRequest(
        character_id=character_id,
        subject_name=subject,
        purposes=[enum_value(usage_pb2.UsagePurpose, p, "USAGE_PURPOSE_") for p in purposes],
        channels=[enum_value(usage_pb2.UsageChannel, c, "USAGE_CHANNEL_") for c in channels],
        territories=[t.upper() for t in territories],
        notes=notes,
    )
    if valid_from:
        request.valid_from.CopyFrom(_parse_time(valid_from, "--valid-from"))
    else:
        request.valid_from.GetCurrentTime()
    if valid_until:
        request.valid_until.CopyFrom(_parse_time(valid_until, "--valid-until"))
    digest = hashlib.sha256(evidence.read_bytes()).hexdigest()
    info = upload_file(assets, evidence, assets_pb.OBJECT_PURPOSE_CONSENT_EVIDENCE)
    request.evidence_object_id = info.object_id
    request.evidence_sha256 = digest
    return assets.api.RecordConsent(request).consent


def _consent_table(consents: list[assets_pb.ConsentRecord]) -> Table:
    table = Table(
        id_column("consent"), "subject", "state", "purposes", "channels", "territories", "valid from",
        "valid until",
    )  # fmt: skip
    for consent in consents:
        table.add_row(
            consent.consent_id,
            consent.subject_name,
            enum_name(assets_pb.ConsentState, consent.state, "CONSENT_STATE_"),
            ", ".join(enum_name(usage_pb2.UsagePurpose, p, "USAGE_PURPOSE_") for p in consent.purposes),
            ", ".join(enum_name(usage_pb2.UsageChannel, c, "USAGE_CHANNEL_") for c in consent.channels),
            ", ".join(consent.territories),
            when(consent.valid_from),
            when(consent.valid_until) if consent.HasField("valid_until") else "open-ended",
        )
    return table


# --- identities ------------------------------------------------------------------------------------


def _quality_table(reports: Any) -> Table:
    table = Table(
        "photo", "accepted", "faces", "face px", "score", "blur", "yaw/pitch", "sim. others", "reason"
    )
    for report in reports:
        pose = (
            f"{report.head_pose.yaw_degrees:+.0f}°/{report.head_pose.pitch_degrees:+.0f}°"
            if report.HasField("head_pose")
            else "-"
        )
        similarity = (
            f"{report.mean_similarity_to_others:.2f}" if report.HasField("mean_similarity_to_others") else "-"
        )
        table.add_row(
            report.label or str(report.index),
            "[green]yes[/green]" if report.accepted else "[red]no[/red]",
            str(report.face_count),
            str(report.face_size_px),
            f"{report.detector_score:.2f}",
            f"{report.blur_variance:.0f}",
            pose,
            similarity,
            report.rejection_message,
        )
    return table


def _attributes_line(attributes: Any) -> str:
    parts = []
    if attributes.HasField("age"):
        age = attributes.age
        parts.append(
            f"age ≈ {age.years:.0f} ({age.low_years:.0f}-{age.high_years:.0f}, "
            f"confidence {age.confidence:.2f})"
        )
    if attributes.HasField("gender") and attributes.gender.value:
        gender = enum_name(faces_pb2.Gender, attributes.gender.value, "GENDER_")
        parts.append(f"gender {gender} (confidence {attributes.gender.confidence:.2f})")
    return "; ".join(parts) or "no estimate"


@dataclass
class EncodedIdentity:
    """Photos uploaded and encoded by the identity service, not yet stored as an identity version."""

    photos: list[Path]
    object_ids: list[str]
    encoded: Any


def encode_identity(cli: Cli, assets: AssetsClient, photos: list[Path]) -> EncodedIdentity:
    """Upload 1-5 photos and encode them (the quality gate); nothing refers to the uploads yet, so a
    failure here leaves only bytes the assets service sweeps away."""
    if not 1 <= len(photos) <= 5:
        raise CliFailure("give 1 to 5 --photo files of the same person", EXIT_USAGE)
    uploaded = [upload_file(assets, photo, assets_pb.OBJECT_PURPOSE_REFERENCE_PHOTO) for photo in photos]
    with cli.identity() as identity:
        encoded = identity.api.EncodeIdentity(
            identity_pb.EncodeIdentityRequest(
                reference_photos=[
                    identity_pb.ReferencePhoto(object_id=info.object_id, label=photo.name[-200:])
                    for info, photo in zip(uploaded, photos, strict=True)
                ]
            )
        )
    return EncodedIdentity(photos, [info.object_id for info in uploaded], encoded)


def add_identity(cli: Cli, assets: AssetsClient, character_id: str, photos: list[Path]) -> dict[str, Any]:
    """Upload photos, encode them with the identity service, store the identity version.

    Returns the JSON-ready summary; prints the quality table for people as it goes.
    """
    return store_identity(cli, assets, character_id, encode_identity(cli, assets, photos))


def store_identity(
    cli: Cli, assets: AssetsClient, character_id: str, identity: EncodedIdentity
) -> dict[str, Any]:
    """Store an encoded identity as the character's new identity version."""
    encoded, photos = identity.encoded, identity.photos
    # The identity and assets contracts share these messages' field numbers, so the wire bytes carry over.
    quality = assets_pb.IdentityQualityReport(
        photo_reports=[
            assets_pb.PhotoQualityReport.FromString(r.SerializeToString()) for r in encoded.photo_reports
        ],
        consistency_score=encoded.consistency_score,
        accepted_count=encoded.accepted_count,
        thresholds=assets_pb.QualityThresholds.FromString(encoded.thresholds.SerializeToString()),
    )
    attributes = assets_pb.EstimatedAttributes.FromString(encoded.estimated_attributes.SerializeToString())
    version = assets.api.AddIdentityVersion(
        assets_pb.AddIdentityVersionRequest(
            character_id=character_id,
            z_id=encoded.z_id,
            model_pack_id=encoded.model_pack_id,
            quality=quality,
            reference_photo_object_ids=identity.object_ids,
            estimated_attributes=attributes,
        )
    ).identity_version
    if not cli.json_output:
        out_console.print(_quality_table(encoded.photo_reports))
        out_console.print(
            f"identity version {version.version}: {encoded.accepted_count} of {len(photos)} photos accepted, "
            f"consistency {encoded.consistency_score:.3f}, model pack {encoded.model_pack_id}"
        )
        out_console.print(f"estimated attributes: {_attributes_line(encoded.estimated_attributes)}")
        if version.collision_detected:
            out_console.print(
                "[yellow]warning:[/yellow] this face matches a character registered elsewhere; the identity "
                "is held for review (pending_review) and cannot be used until an administrator approves it"
            )
    return {
        "identity_version": to_dict(version),
        "photo_reports": [to_dict(r) for r in encoded.photo_reports],
        "consistency_score": encoded.consistency_score,
        "estimated_attributes": to_dict(encoded.estimated_attributes),
        "collision_detected": version.collision_detected,
    }


# --- character commands ----------------------------------------------------------------------------


@character_app.command("create")
@command
def character_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    photo: Photos = [],  # noqa: B006
    description: Annotated[str, typer.Option(help="Free-text description.")] = "",
    gender: Annotated[str | None, typer.Option(help="Declared gender: female, male or non_binary.")] = None,
    age: Annotated[str | None, typer.Option(help="Declared age range in years, e.g. 30-40.")] = None,
    tag: Annotated[list[str], typer.Option("--tag", help="A declared attribute tag (repeatable).")] = [],  # noqa: B006
    consent_subject: Annotated[str | None, typer.Option(help="Consent: the person's legal name.")] = None,
    consent_evidence: Annotated[
        Path | None,
        typer.Option(
            help="Consent: the signed release (JPEG, PNG, WebP or MP4).", exists=True, dir_okay=False
        ),
    ] = None,
    purpose: Annotated[
        list[str], typer.Option("--purpose", help="Consent: a purpose, e.g. advertising.")
    ] = [],  # noqa: B006
    channel: Annotated[
        list[str], typer.Option("--channel", help="Consent: a channel, e.g. online_video.")
    ] = [],  # noqa: B006
    territory: Annotated[
        list[str], typer.Option("--territory", help="Consent: ISO country code or WORLD.")
    ] = [],  # noqa: B006
    valid_until: Annotated[
        str | None, typer.Option(help="Consent: end date (ISO 8601); default open-ended.")
    ] = None,
) -> None:
    """Create a character; with consent options and photos, also record consent and lock its identity.

    An identity needs a current consent record, so --photo needs the --consent-* options (or run
    `likeness consent record` and `likeness character identity` later). The photos are checked before
    anything is stored; if a later step fails, the same command run again (for the same brand and name)
    finishes that character instead of creating another.
    """
    cli = cli_state(ctx)
    consent_given = consent_subject is not None or consent_evidence is not None
    if consent_given and not (consent_subject and consent_evidence and purpose and channel and territory):
        raise CliFailure(
            "consent needs --consent-subject, --consent-evidence and at least one --purpose, --channel "
            "and --territory",
            EXIT_USAGE,
        )
    if photo and not consent_given:
        raise CliFailure(
            "an identity needs consent: add the --consent-* options, or omit --photo", EXIT_USAGE
        )
    attributes = assets_pb.DeclaredAttributes(tags=tag)
    if gender:
        attributes.gender = enum_value(faces_pb2.Gender, gender, "GENDER_")
    if age:
        low, _, high = age.partition("-")
        try:
            attributes.age_range.min_years = int(low)
            attributes.age_range.max_years = int(high or low)
        except ValueError:
            raise CliFailure(f"--age: {age!r} is not a range like 30-40", EXIT_USAGE) from None
    registration = Registration.of(cli, name)
    result: dict[str, Any] = {}
    with cli.assets() as assets:
        # The identity's quality gate first: photos it refuses stop the command before anything is stored.
        stored = registration.state.get("identity_version")
        identity = encode_identity(cli, assets, photo) if photo and not stored else None
        character = registration.character(assets)
        if character is None:
            character = assets.api.CreateCharacter(
                assets_pb.CreateCharacterRequest(
                    display_name=name, description=description, declared_attributes=attributes
                )
            ).character
            registration.save(character_id=character.character_id)
            cli.info(f"created character {character.character_id} ({character.display_name})")
        else:
            cli.info(f"resuming the registration of character {character.character_id} ({name})")
        result["character"] = to_dict(character)
        try:
            if consent_given and not registration.state.get("consent_id"):
                assert consent_subject is not None and consent_evidence is not None
                consent = record_consent(
                    assets,
                    character.character_id,
                    subject=consent_subject,
                    evidence=consent_evidence,
                    purposes=purpose,
                    channels=channel,
                    territories=territory,
                    valid_from=None,
                    valid_until=valid_until,
                )
                registration.save(consent_id=consent.consent_id)
                result["consent"] = to_dict(consent)
                cli.info(f"recorded consent {consent.consent_id} for {consent.subject_name}")
            if identity is not None:
                result |= store_identity(cli, assets, character.character_id, identity)
                registration.save(identity_version=result["identity_version"]["version"])
        except (CliFailure, LikenessError):
            cli.info(
                f"character {character.character_id} is registered only in part: run the same command "
                "again (with what was refused corrected) to finish it"
            )
            raise
    registration.finish()
    cli.emit(result, lambda: out_console.print(f"character id: [bold]{character.character_id}[/bold]"))


class Registration:
    """What one `character create` has stored so far, kept in the CLI's state directory until it
    completes: run again after a failure, the command for the same brand, services and name finishes
    that character rather than starting a second one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    @classmethod
    def of(cls, cli: Cli, name: str) -> Registration:
        settings = cli.settings
        target = settings.assets_target or f"{settings.host}:{settings.assets_port}"
        key = hashlib.sha256(json.dumps([target, cli.brand(), name]).encode()).hexdigest()[:32]
        return cls(settings.state_dir / "registrations" / f"{key}.json")

    def character(self, assets: AssetsClient) -> assets_pb.Character | None:
        """The character this registration created, if it still exists."""
        character_id = self.state.get("character_id")
        if not character_id:
            return None
        try:
            character: assets_pb.Character = assets.api.GetCharacter(
                assets_pb.GetCharacterRequest(character_id=character_id)
            ).character
        except LikenessError as error:
            if error.code != grpc.StatusCode.NOT_FOUND:
                raise
            self.state = {}  # erased since: start over
            return None
        return character

    def save(self, **values: Any) -> None:
        self.state |= values
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.state))
        temporary.replace(self.path)

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)


@character_app.command("identity")
@command
def character_identity(
    ctx: typer.Context,
    character_id: CharacterId,
    photo: Photos,
) -> None:
    """Add a new identity version from 1-5 photos (needs a current consent record)."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        result = add_identity(cli, assets, character_id, photo)
    cli.emit(result, lambda: None)


@character_app.command("show")
@command
def character_show(ctx: typer.Context, character_id: CharacterId) -> None:
    """Show a character, its identity versions and its consent records."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        character = assets.api.GetCharacter(
            assets_pb.GetCharacterRequest(character_id=character_id)
        ).character
        versions = assets.api.ListIdentityVersions(
            assets_pb.ListIdentityVersionsRequest(character_id=character_id, page_size=500)
        ).identity_versions
        consents = assets.api.ListConsents(
            assets_pb.ListConsentsRequest(character_id=character_id, page_size=500)
        ).consents

    def human() -> None:
        table = fields_table()
        table.add_row("character", character.character_id)
        table.add_row("name", character.display_name)
        table.add_row("status", enum_name(assets_pb.CharacterStatus, character.status, "CHARACTER_STATUS_"))
        table.add_row("current identity", str(character.current_identity_version or "none"))
        table.add_row("description", character.description)
        table.add_row("created", f"{when(character.create_time)} by {character.created_by}")
        out_console.print(table)
        if versions:
            identity_table = Table(
                "version", "status", "model pack", "photos", "consistency", "collision", "created"
            )
            for version in versions:
                identity_table.add_row(
                    str(version.version),
                    enum_name(assets_pb.IdentityVersionStatus, version.status, "IDENTITY_VERSION_STATUS_"),
                    version.model_pack_id,
                    str(len(version.reference_photo_object_ids)),
                    f"{version.quality.consistency_score:.3f}",
                    "yes" if version.collision_detected else "no",
                    when(version.create_time),
                )
            out_console.print(identity_table)
        if consents:
            out_console.print(_consent_table(list(consents)))

    cli.emit(
        {
            "character": to_dict(character),
            "identity_versions": [to_dict(v) for v in versions],
            "consents": [to_dict(c) for c in consents],
        },
        human,
    )


@character_app.command("list")
@command
def character_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status: active, archived or erased.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
) -> None:
    """List the brand's characters, newest first."""
    cli = cli_state(ctx)
    wanted = enum_value(assets_pb.CharacterStatus, status, "CHARACTER_STATUS_") if status else None
    with cli.assets() as assets:
        request = assets_pb.ListCharactersRequest(status=wanted)
        characters = items(assets.api.ListCharacters, request, "characters", limit)
    emit_listing(
        cli,
        characters,
        (id_column("character"), "name", "status", "identity", "created"),
        lambda character: (
            character.character_id,
            character.display_name,
            enum_name(assets_pb.CharacterStatus, character.status, "CHARACTER_STATUS_"),
            str(character.current_identity_version or "-"),
            when(character.create_time),
        ),
    )


@character_app.command("archive")
@command
def character_archive(ctx: typer.Context, character_id: CharacterId) -> None:
    """Archive a character: readable, but unusable in new generations."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        character = assets.api.ArchiveCharacter(
            assets_pb.ArchiveCharacterRequest(character_id=character_id)
        ).character
    cli.emit(to_dict(character), lambda: out_console.print(f"archived {character.character_id}"))


@character_app.command("erase")
@command
def character_erase(
    ctx: typer.Context,
    character_id: CharacterId,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log), e.g. 'subject request'.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a character: its embeddings, photos and derived clips are deleted; a tombstone remains."""
    cli = cli_state(ctx)
    if not yes and not typer.confirm(f"Erase {character_id} and every photo, embedding and clip of it?"):
        raise CliFailure("not erased", EXIT_USAGE)
    with cli.assets() as assets:
        response = assets.api.EraseCharacter(
            assets_pb.EraseCharacterRequest(character_id=character_id, reason=reason)
        )
    cli.emit(to_dict(response), lambda: out_console.print(f"erased {character_id}"))


# --- consent commands ------------------------------------------------------------------------------


@consent_app.command("record")
@command
def consent_record(
    ctx: typer.Context,
    character_id: CharacterId,
    subject: Annotated[str, typer.Option(help="The person's legal name.")],
    evidence: Annotated[
        Path, typer.Option(help="The signed release (JPEG, PNG, WebP or MP4).", exists=True, dir_okay=False)
    ],
    purpose: Annotated[
        list[str],
        typer.Option("--purpose", help="A purpose: advertising, social, editorial, internal_testing."),
    ],
    channel: Annotated[
        list[str],
        typer.Option("--channel", help="A channel: tv, online_video, social, print, out_of_home, internal."),
    ],
    territory: Annotated[list[str], typer.Option("--territory", help="ISO 3166-1 alpha-2 code, or WORLD.")],
    valid_from: Annotated[str | None, typer.Option(help="Start (ISO 8601); default now.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="End (ISO 8601); default open-ended.")] = None,
    notes: Annotated[str, typer.Option(help="Free-text notes.")] = "",
) -> None:
    """Record a consent for a character, bound to the SHA-256 of its evidence file."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        consent = record_consent(
            assets,
            character_id,
            subject=subject,
            evidence=evidence,
            purposes=purpose,
            channels=channel,
            territories=territory,
            valid_from=valid_from,
            valid_until=valid_until,
            notes=notes,
        )
    cli.emit(to_dict(consent), lambda: out_console.print(_consent_table([consent])))


@consent_app.command("revoke")
@command
def consent_revoke(
    ctx: typer.Context,
    consent_id: Annotated[str, typer.Argument(help="The consent record's id.")],
    reason: Annotated[str, typer.Option(help="Why it is revoked.")],
) -> None:
    """Revoke a consent record; jobs that rely on it stop before their next shot."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        consent = assets.api.RevokeConsent(
            assets_pb.RevokeConsentRequest(consent_id=consent_id, reason=reason)
        ).consent
    cli.emit(
        to_dict(consent), lambda: out_console.print(f"revoked {consent.consent_id}: {consent.revoke_reason}")
    )


@consent_app.command("show")
@command
def consent_show(
    ctx: typer.Context,
    character_id: CharacterId,
    purpose: Annotated[str | None, typer.Option(help="Also check this purpose …")] = None,
    channel: Annotated[str | None, typer.Option(help="… on this channel …")] = None,
    territory: Annotated[str | None, typer.Option(help="… in this territory, now.")] = None,
) -> None:
    """Show a character's consent records; with --purpose, --channel and --territory, whether a use is
    allowed now."""
    cli = cli_state(ctx)
    check: assets_pb.CheckConsentResponse | None = None
    with cli.assets() as assets:
        consents = list(
            assets.api.ListConsents(
                assets_pb.ListConsentsRequest(character_id=character_id, page_size=500)
            ).consents
        )
        if purpose or channel or territory:
            if not (purpose and channel and territory):
                raise CliFailure("a check needs --purpose, --channel and --territory together", EXIT_USAGE)
            check = assets.api.CheckConsent(
                assets_pb.CheckConsentRequest(
                    character_id=character_id,
                    purpose=enum_value(usage_pb2.UsagePurpose, purpose, "USAGE_PURPOSE_"),
                    channel=enum_value(usage_pb2.UsageChannel, channel, "USAGE_CHANNEL_"),
                    territory=territory.upper(),
                )
            )

    def human() -> None:
        out_console.print(_consent_table(consents))
        if check is not None:
            if check.allowed:
                out_console.print(f"[green]allowed[/green] by consent {check.consent_id}")
            else:
                reason = enum_name(
                    assets_pb.ConsentDenialReason, check.denial_reason, "CONSENT_DENIAL_REASON_"
                )
                out_console.print(f"[red]denied[/red] ({reason}): {check.message}")

    data: dict[str, Any] = {"consents": [to_dict(c) for c in consents]}
    if check is not None:
        data["check"] = to_dict(check)
    cli.emit(data, human)
