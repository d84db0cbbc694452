"""User commands on the registry (the assets service): brands, audit, objects."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.cli.common import (
    EXIT_CHECK_FAILED,
    CliFailure,
    cli_state,
    command,
    emit_listing,
    enum_name,
    fields_table,
    out_console,
    to_dict,
    when,
)
from likeness.sdk import AssetsClient
from likeness.sdk.objects import file_chunks, upload_requests
from likeness.sdk.pages import items

brand_app = typer.Typer(help="Brands: the tenant everything belongs to.", no_args_is_help=True)
audit_app = typer.Typer(help="The brand's hash-chained audit log.", no_args_is_help=True)
asset_app = typer.Typer(help="Stored objects: photos, evidence, clips.", no_args_is_help=True)


# --- brands ----------------------------------------------------------------------------------------


@brand_app.command("create")
@command
def brand_create(
    ctx: typer.Context,
    brand_id: Annotated[
        str, typer.Argument(help="Slug: lowercase letters, digits, hyphens (e.g. acme-foods).")
    ],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: the slug).")] = None,
    use: Annotated[bool, typer.Option(help="Make it the brand later commands act on.")] = True,
) -> None:
    """Create a brand (and, by default, make it the current one)."""
    cli = cli_state(ctx)
    with cli.assets(brand_id) as assets:
        response = assets.api.CreateBrand(
            assets_pb.CreateBrandRequest(brand_id=brand_id, display_name=name or brand_id)
        )
    if use:
        cli.save(brand=brand_id)
    brand = response.brand
    cli.emit(
        to_dict(brand),
        lambda: out_console.print(
            f"created brand [bold]{brand.brand_id}[/bold] ({brand.display_name})"
            + (" — now the current brand" if use else "")
        ),
    )


@brand_app.command("use")
@command
def brand_use(ctx: typer.Context, brand_id: Annotated[str, typer.Argument(help="The brand's slug.")]) -> None:
    """Make a brand the one later commands act on (checks that it exists)."""
    cli = cli_state(ctx)
    with cli.assets(brand_id) as assets:
        response = assets.api.GetBrand(assets_pb.GetBrandRequest(brand_id=brand_id))
    cli.save(brand=brand_id)
    cli.emit(to_dict(response.brand), lambda: out_console.print(f"current brand: [bold]{brand_id}[/bold]"))


@brand_app.command("show")
@command
def brand_show(ctx: typer.Context) -> None:
    """Show the current brand."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        brand = assets.api.GetBrand(assets_pb.GetBrandRequest()).brand

    def human() -> None:
        table = fields_table()
        table.add_row("brand", brand.brand_id)
        table.add_row("name", brand.display_name)
        table.add_row("created", when(brand.create_time))
        table.add_row("created by", brand.created_by)
        out_console.print(table)

    cli.emit(to_dict(brand), human)


# --- audit -----------------------------------------------------------------------------------------


@audit_app.command("verify")
@command
def audit_verify(
    ctx: typer.Context,
    from_sequence: Annotated[int, typer.Option("--from", help="First sequence (default: 1).")] = 0,
    to_sequence: Annotated[int, typer.Option("--to", help="Last sequence (default: the latest).")] = 0,
) -> None:
    """Verify the brand's audit chain; exits 7 when a link is broken."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        result = assets.api.VerifyAuditChain(
            assets_pb.VerifyAuditChainRequest(from_sequence=from_sequence, to_sequence=to_sequence)
        )

    def human() -> None:
        if result.ok:
            out_console.print(
                f"[green]audit chain intact[/green]: {result.events_checked} events "
                f"(#{result.first_sequence}-#{result.last_sequence}), last hash {result.last_hash}"
            )
        else:
            link = result.first_broken_link
            kind = enum_name(assets_pb.ChainBreakKind, link.kind, "CHAIN_BREAK_KIND_")
            out_console.print(
                f"[red]audit chain BROKEN[/red] at event #{link.sequence} ({kind}); "
                f"expected {link.expected_hash or '-'}, found {link.found_hash or '-'}"
            )

    cli.emit(to_dict(result), human)
    if not result.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@audit_app.command("list")
@command
def audit_list(
    ctx: typer.Context,
    target: Annotated[str, typer.Option(help="Only events on this resource id.")] = "",
    action: Annotated[str, typer.Option(help="Only this action, e.g. identity_version.read.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 50,
) -> None:
    """List audit events, oldest first."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        request = assets_pb.ListAuditEventsRequest(target_id=target, action=action)
        events = items(assets.api.ListAuditEvents, request, "events", limit)
    emit_listing(
        cli,
        events,
        ("#", "time", "action", "target", "actor", "outcome"),
        lambda event: (
            str(event.sequence),
            when(event.event_time),
            event.action,
            event.target_id,
            event.actor_subject,
            enum_name(assets_pb.AuditOutcome, event.outcome, "AUDIT_OUTCOME_"),
        ),
    )


# --- objects ---------------------------------------------------------------------------------------


def upload_file(assets: AssetsClient, path: Path, purpose: assets_pb.ObjectPurpose) -> assets_pb.ObjectInfo:
    """Upload a file as a stream of 1 MiB chunks; returns the stored object's metadata."""
    header = assets_pb.UploadObjectHeader(
        purpose=purpose, filename_hint=path.name[-255:], declared_size_bytes=path.stat().st_size
    )
    return assets.api.UploadObject(upload_requests(header, file_chunks(path))).info


def download_to(assets: AssetsClient, object_id: str, destination: Path) -> assets_pb.ObjectInfo:
    """Stream an object into ``destination`` (written atomically) and check its SHA-256."""
    digest = hashlib.sha256()
    info: assets_pb.ObjectInfo | None = None
    partial = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("wb") as handle:
        for message in assets.api.DownloadObject(assets_pb.DownloadObjectRequest(object_id=object_id)):
            if message.HasField("info"):
                info = message.info
            else:
                digest.update(message.chunk)
                handle.write(message.chunk)
    if info is None:
        partial.unlink(missing_ok=True)
        raise CliFailure(f"object {object_id}: the server sent no metadata")
    if digest.hexdigest() != info.sha256:
        partial.unlink(missing_ok=True)
        raise CliFailure(
            f"object {object_id}: downloaded bytes do not match the stored SHA-256", EXIT_CHECK_FAILED
        )
    partial.replace(destination)
    return info


@asset_app.command("download")
@command
def asset_download(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(help="The object's id (a clip, photo or evidence).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default: ./<id>.<ext>).")
    ] = None,
) -> None:
    """Download a stored object and check its SHA-256."""
    cli = cli_state(ctx)
    with cli.assets() as assets:
        if output is None:
            info = assets.api.GetObjectInfo(assets_pb.GetObjectInfoRequest(object_id=object_id)).info
            extension = {
                "video/mp4": "mp4",
                "image/jpeg": "jpg",
                "image/png": "png",
                "image/webp": "webp",
            }.get(info.content_type, "bin")
            output = Path(f"{object_id}.{extension}")
        info = download_to(assets, object_id, output)
    data = to_dict(info) | {"path": str(output)}
    cli.emit(
        data,
        lambda: out_console.print(
            f"wrote {output} ({info.size_bytes} bytes, {info.content_type}, sha256 {info.sha256})"
        ),
    )
