"""The ``likeness`` command."""

from __future__ import annotations

import enum
import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperOption

from likeness.cli.characters import character_app, consent_app
from likeness.cli.common import Cli, ClientSettings
from likeness.cli.jobs import generate_command, job_app
from likeness.cli.model import model_app
from likeness.cli.provenance import provenance_app
from likeness.cli.registry import asset_app, audit_app, brand_app
from likeness.cli.train import train_app
from likeness.local import LocalSettings, local_signing_key
from likeness.rpc.auth import Role, mint_token


def _flag_without_type(display: Any) -> Any:
    """Typer's rich help prints each option's type beside it, "<bool>" for flags too, which take no
    value at all: flags (--json, --help, ...) show none."""

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else display(self, ctx)

    return display_type_rich


TyperOption.display_type_rich = _flag_without_type(TyperOption.display_type_rich)  # type: ignore[method-assign]

app = typer.Typer(
    help="Likeness: brand digital actors with locked identities.\n\n"
    "Exit codes: 0 ok, 1 unexpected error, 2 bad usage or argument, 3 not found, 4 refused by a rule "
    "(consent, state, etag), 5 not allowed, 6 service unreachable or busy, 7 a result failed its check, "
    "130 interrupted.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="Bearer tokens for local use.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(brand_app, name="brand")
app.add_typer(character_app, name="character")
app.add_typer(consent_app, name="consent")
app.add_typer(audit_app, name="audit")
app.add_typer(asset_app, name="asset")
app.add_typer(job_app, name="job")
app.add_typer(provenance_app, name="provenance")
app.add_typer(train_app, name="train")
app.add_typer(model_app, name="model")
app.command("generate")(generate_command)
console = Console(stderr=True)


@app.callback()
def main(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")
    ] = False,
    brand: Annotated[
        str | None, typer.Option("--brand", help="Brand to act on (default: LIKENESS_BRAND or `brand use`).")
    ] = None,
    state_dir: StateDir = None,
) -> None:
    """Likeness command line."""
    settings = ClientSettings()
    if state_dir is not None:
        settings.state_dir = state_dir
    if brand is not None:
        settings.brand = brand
    ctx.obj = Cli(settings, json_output=json_output)


class ServiceName(enum.StrEnum):
    identity = "identity"
    assets = "assets"
    generator = "generator"


class RoleName(enum.StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"
    service = "service"


StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", help="Where local data lives (default: LIKENESS_STATE_DIR or the user state dir)."
    ),
]


def _local_settings(state_dir: Path | None) -> LocalSettings:
    settings = LocalSettings()
    if state_dir is not None:
        settings.state_dir = state_dir
    return settings


@token_app.command("mint")
def token_mint(
    brand: Annotated[str, typer.Option(help="Brand id (slug) the token may act on.")],
    role: Annotated[list[RoleName], typer.Option(help="Role(s) to grant.")] = [RoleName.admin],  # noqa: B006
    subject: Annotated[str, typer.Option(help="Who the token identifies.")] = "local-user",
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
    state_dir: StateDir = None,
) -> None:
    """Print a token signed with the local key (the one `likeness up` services trust)."""
    settings = _local_settings(state_dir)
    key = local_signing_key(settings)
    try:
        token = mint_token(
            key,
            issuer="likeness",
            subject=subject,
            brand_id=brand,
            roles=[Role[name.value.upper()] for name in role],
            ttl_seconds=ttl,
        )
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    print(token)


@app.command("serve")
def serve(service: Annotated[ServiceName, typer.Argument(help="Which service to run.")]) -> None:
    """Run one service in the foreground, configured by its LIKENESS_<SERVICE>_* settings."""
    module = importlib.import_module(f"likeness.{service.value}.main")
    module.main()


@app.command("up")
def up(state_dir: StateDir = None) -> None:
    """Start all three services on embedded defaults; Ctrl-C stops them, data is kept."""
    from likeness.cli.up import run_up

    sys.exit(run_up(_local_settings(state_dir), console))


@app.command("demo")
def demo(
    ctx: typer.Context,
    output_dir: Annotated[
        Path | None,
        typer.Option(help="Where the demo's photos, storyboard and clip go (default: <state dir>/demo)."),
    ] = None,
    keep_running: Annotated[
        bool, typer.Option(help="Leave the services running if the demo started them.")
    ] = False,
) -> None:
    """The whole path once on embedded defaults: brand, character, consent, a 2-shot clip on the tiny
    random-weight model, its provenance and QA scores."""
    from likeness.cli.common import cli_state, failures
    from likeness.cli.demo import run_demo

    cli = cli_state(ctx)
    with failures():
        run_demo(cli, output_dir or cli.settings.state_dir / "demo", keep_running)


if __name__ == "__main__":
    app()
