"""`likeness provenance verify`: read a clip's C2PA content credentials and say what they claim."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from likeness.cli.common import (
    EXIT_CHECK_FAILED,
    Cli,
    CliFailure,
    cli_state,
    command,
    fields_table,
    out_console,
)

provenance_app = typer.Typer(help="C2PA content credentials of generated clips.", no_args_is_help=True)

DEV_ROOT_NAME = "c2pa-dev-root.pem"


@dataclass
class ProvenanceReport:
    """What a clip's active manifest says, and whether it verified."""

    #: The signature and the content hashes check out (trust in the signer is reported separately).
    valid: bool
    #: The signer's chain leads to a given trust anchor.
    trusted: bool
    summary: dict[str, Any]


def _active_manifest(store: dict[str, Any]) -> dict[str, Any]:
    label = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    if not label or label not in manifests:
        raise CliFailure("the clip carries no C2PA manifest", EXIT_CHECK_FAILED)
    manifest: dict[str, Any] = manifests[label]
    return manifest


def _assertion(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    for assertion in manifest.get("assertions") or []:
        if assertion.get("label", "").startswith(label):
            data: dict[str, Any] = assertion.get("data") or {}
            return data
    return None


def inspect_clip(clip: bytes, trust_anchor_pem: bytes = b"") -> ProvenanceReport:
    """Read and validate the manifest store embedded in an MP4."""
    from c2pa import C2paError

    from likeness.generator.provenance import CREATED_ACTION, LIKENESS_ASSERTION, read_manifest

    try:
        store = read_manifest(clip, trust_anchor_pem)
    except C2paError as error:
        raise CliFailure(f"no readable C2PA manifest: {error}", EXIT_CHECK_FAILED) from None
    manifest = _active_manifest(store)
    state = str(store.get("validation_state", "")).lower()
    failures = [
        status
        for status in (store.get("validation_status") or [])
        if not str(status.get("code", "")).startswith("signingCredential.untrusted")
    ]
    actions = (_assertion(manifest, "c2pa.actions") or {}).get("actions") or []
    created = [action for action in actions if action.get("action") == CREATED_ACTION]
    likeness = _assertion(manifest, LIKENESS_ASSERTION) or {}
    signature = manifest.get("signature_info") or {}
    summary = {
        "validation_state": state,
        "validation_failures": failures,
        "signer": signature.get("common_name") or signature.get("issuer", ""),
        "signed_at": signature.get("time", ""),
        "claim_generator": manifest.get("claim_generator") or manifest.get("claim_generator_info"),
        "created_action": bool(created),
        "digital_source_type": created[0].get("digitalSourceType", "") if created else "",
        "likeness": likeness,
    }
    valid = state in ("valid", "trusted") and not failures and bool(created) and bool(likeness)
    return ProvenanceReport(valid=valid, trusted=state == "trusted", summary=summary)


def default_trust_anchor(cli: Cli) -> Path | None:
    """The development root `likeness up` signs with, when it exists in the state directory."""
    path = cli.settings.state_dir / "c2pa" / DEV_ROOT_NAME
    return path if path.exists() else None


def verify_clip(cli: Cli, clip: Path, trust_anchor: Path | None = None) -> ProvenanceReport:
    anchor = trust_anchor or default_trust_anchor(cli)
    return inspect_clip(clip.read_bytes(), anchor.read_bytes() if anchor else b"")


@provenance_app.command("verify")
@command
def provenance_verify(
    ctx: typer.Context,
    clip: Annotated[Path, typer.Argument(help="The MP4 to check.", exists=True, dir_okay=False)],
    trust_anchor: Annotated[
        Path | None,
        typer.Option(help="Root certificate (PEM) to trust; default: the local development root, if any."),
    ] = None,
) -> None:
    """Verify a clip's C2PA manifest and print what it says; exits 7 when it does not verify."""
    cli = cli_state(ctx)
    report = verify_clip(cli, clip, trust_anchor)

    def human() -> None:
        summary = report.summary
        likeness = summary["likeness"]
        table = fields_table()
        verdict = "[green]valid[/green]" if report.valid else "[red]NOT valid[/red]"
        table.add_row("manifest", f"{verdict} ({summary['validation_state']})")
        table.add_row(
            "signer", f"{summary['signer']}" + (" (trusted)" if report.trusted else " (untrusted chain)")
        )
        table.add_row("action", f"c2pa.created, {summary['digital_source_type'].rsplit('/', 1)[-1]}")
        table.add_row("job", str(likeness.get("job_id", "-")))
        model = likeness.get("model") or {}
        weights = " (RANDOM weights: not publishable)" if model.get("random_weights") else ""
        table.add_row("model", f"{model.get('model_id', '-')}{weights}")
        usage = likeness.get("usage") or {}
        table.add_row(
            "use",
            f"{usage.get('purpose', '-')} / {usage.get('channel', '-')} / {usage.get('territory', '-')}",
        )
        for character in likeness.get("characters") or []:
            table.add_row(
                "character",
                f"{character.get('character_id')} v{character.get('identity_version')} "
                f"under consent {character.get('consent_id')}",
            )
        for failure in summary["validation_failures"]:
            table.add_row("failure", f"{failure.get('code')}: {failure.get('explanation', '')}")
        out_console.print(table)

    cli.emit({"valid": report.valid, "trusted": report.trusted} | report.summary, human)
    if not report.valid:
        raise typer.Exit(EXIT_CHECK_FAILED)
