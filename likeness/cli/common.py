"""What every user command shares: where the services are, which brand and token, how to print, how
to fail.

Exit codes scripts can rely on (also in ``likeness --help``):

==== =================================================================================
0    success
1    an unexpected error
2    bad usage or a rejected argument (INVALID_ARGUMENT, OUT_OF_RANGE)
3    not found (NOT_FOUND)
4    refused by a rule: consent, state, etag (FAILED_PRECONDITION, ABORTED, ALREADY_EXISTS)
5    not allowed (UNAUTHENTICATED, PERMISSION_DENIED)
6    a service is unreachable or overloaded (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED)
7    the operation ran but its result failed a check (a job failed, provenance did not verify)
130  interrupted (Ctrl-C)
==== =================================================================================
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from rich.console import Console
from rich.table import Column, Table

from likeness.local import LocalSettings, local_signing_key
from likeness.rpc.auth import Role, mint_token
from likeness.sdk import AssetsClient, GeneratorClient, IdentityClient, LikenessError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_REFUSED = 4
EXIT_FORBIDDEN = 5
EXIT_UNAVAILABLE = 6
EXIT_CHECK_FAILED = 7
EXIT_INTERRUPTED = 130

_EXIT_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: EXIT_USAGE,
    grpc.StatusCode.OUT_OF_RANGE: EXIT_USAGE,
    grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION: EXIT_REFUSED,
    grpc.StatusCode.ABORTED: EXIT_REFUSED,
    grpc.StatusCode.ALREADY_EXISTS: EXIT_REFUSED,
    grpc.StatusCode.UNAUTHENTICATED: EXIT_FORBIDDEN,
    grpc.StatusCode.PERMISSION_DENIED: EXIT_FORBIDDEN,
    grpc.StatusCode.UNAVAILABLE: EXIT_UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED: EXIT_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: EXIT_UNAVAILABLE,
}

err_console = Console(stderr=True)
out_console = Console()


class ClientSettings(LocalSettings):
    """Where the CLI finds the services and who it is (prefix ``LIKENESS_``)."""

    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    brand: str | None = Field(
        None, description="Brand the commands act on (else the one saved by `brand use`)."
    )
    token: str | None = Field(
        None, description="Bearer token; unset: minted with the local key of `likeness up`."
    )
    identity_target: str | None = Field(None, description="host:port of the identity service.")
    assets_target: str | None = Field(None, description="host:port of the assets service.")
    generator_target: str | None = Field(None, description="host:port of the generator service.")
    secure: bool = Field(False, description="Use TLS to reach the services.")
    timeout_s: float = Field(60.0, description="Deadline of each call, in seconds.")

    @property
    def cli_file(self) -> Path:
        return self.state_dir / "cli.json"


class CliFailure(Exception):
    """A failure the CLI reports as one line and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class Cli:
    """The state of one CLI invocation (the root callback fills it in)."""

    settings: ClientSettings
    json_output: bool = False

    # --- who and where ------------------------------------------------------------------------------

    def saved(self) -> dict[str, Any]:
        path = self.settings.cli_file
        if path.exists():
            value: dict[str, Any] = json.loads(path.read_text())
            return value
        return {}

    def save(self, **values: Any) -> None:
        data = self.saved() | values
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.settings.cli_file.write_text(json.dumps(data, indent=2) + "\n")

    def brand(self) -> str:
        brand = self.settings.brand or self.saved().get("brand")
        if not brand:
            raise CliFailure(
                "no brand: pass --brand, set LIKENESS_BRAND, or run `likeness brand use <id>`", EXIT_USAGE
            )
        return str(brand)

    def token(self, brand: str | None = None) -> str:
        if self.settings.token:
            return self.settings.token
        if not self.settings.key_file.exists():
            raise CliFailure(
                "no token: set LIKENESS_TOKEN, or start `likeness up` "
                f"(its key lives in {self.settings.key_file})",
                EXIT_FORBIDDEN,
            )
        try:
            return mint_token(
                local_signing_key(self.settings),
                issuer="likeness",
                subject="local-cli",
                brand_id=brand or self.brand(),
                roles=[Role.ADMIN],
                ttl_seconds=3600,
            )
        except ValueError as error:
            raise CliFailure(str(error), EXIT_USAGE) from None

    def _target(self, explicit: str | None, port: int) -> str:
        return explicit or f"{self.settings.host}:{port}"

    def assets(self, brand: str | None = None) -> AssetsClient:
        target = self._target(self.settings.assets_target, self.settings.assets_port)
        return AssetsClient(
            target, token=self.token(brand), timeout_s=self.settings.timeout_s, secure=self.settings.secure
        )

    def identity(self) -> IdentityClient:
        target = self._target(self.settings.identity_target, self.settings.identity_port)
        return IdentityClient(
            target, token=self.token(), timeout_s=self.settings.timeout_s, secure=self.settings.secure
        )

    def generator(self) -> GeneratorClient:
        target = self._target(self.settings.generator_target, self.settings.generator_port)
        return GeneratorClient(
            target, token=self.token(), timeout_s=self.settings.timeout_s, secure=self.settings.secure
        )

    # --- output -------------------------------------------------------------------------------------

    def emit(self, data: Any, human: Callable[[], None]) -> None:
        """Print ``data`` as JSON with ``--json``, else call ``human`` to print tables."""
        if self.json_output:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        else:
            human()

    def info(self, message: str) -> None:
        """A progress line for people (stderr, so ``--json`` output stays clean)."""
        err_console.print(message)


#: A command's argument naming one character or one job.
CharacterId = Annotated[str, typer.Argument(help="The character's id.")]
JobId = Annotated[str, typer.Argument(help="The job's id.")]


def emit_listing(
    cli: Cli, listed: list[Any], columns: Sequence[str | Column], row: Callable[[Any], Sequence[str]]
) -> None:
    """A List command's answer: the items as JSON, or for a person a table with one ``row`` an item."""

    def human() -> None:
        table = Table(*columns)
        for item in listed:
            table.add_row(*row(item))
        out_console.print(table)

    cli.emit([to_dict(item) for item in listed], human)


def to_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as JSON-ready data, with the proto's field names."""
    value: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return value


def enum_name(enum_type: Any, value: int, prefix: str) -> str:
    """``CHARACTER_STATUS_ACTIVE`` → ``active``."""
    name: str = enum_type.Name(value)
    return name.removeprefix(prefix).lower()


def enum_value(enum_type: Any, name: str, prefix: str) -> Any:
    """``active`` → ``CHARACTER_STATUS_ACTIVE``'s number; a clear error for an unknown name."""
    key = prefix + name.strip().upper().replace("-", "_")
    try:
        value = enum_type.Value(key)
    except ValueError:
        choices = ", ".join(
            n.removeprefix(prefix).lower() for n in enum_type.keys() if not n.endswith("_UNSPECIFIED")
        )
        raise CliFailure(f"unknown value {name!r}; choose one of: {choices}", EXIT_USAGE) from None
    return value


def when(stamp: Any) -> str:
    """A Timestamp for people; '-' when unset."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return "-"
    value: datetime = stamp.ToDatetime(tzinfo=UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def exit_code_for(code: grpc.StatusCode) -> int:
    """The exit code for a call refused with this status (see the README's table)."""
    return _EXIT_BY_CODE.get(code, EXIT_ERROR)


@contextmanager
def failures() -> Iterator[None]:
    """Turn every failure into one clear line on stderr and an exit code."""
    try:
        yield
    except CliFailure as failure:
        err_console.print(f"[red]error:[/red] {failure.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(failure.exit_code) from None
    except LikenessError as error:
        line = f"{error.code.name}: {error.message}"
        if error.code == grpc.StatusCode.UNAVAILABLE:
            line += " (are the services running? `likeness up` starts them)"
        if error.request_id:
            line += f" [request {error.request_id}]"
        err_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(_EXIT_BY_CODE.get(error.code, EXIT_ERROR)) from None
    except grpc.RpcError as error:
        code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        err_console.print(f"[red]error:[/red] {code.name}: {details}", highlight=False, soft_wrap=True)
        raise typer.Exit(_EXIT_BY_CODE.get(code, EXIT_ERROR)) from None
    except OSError as error:
        err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None


P = ParamSpec("P")
R = TypeVar("R")


def command(function: Callable[P, R]) -> Callable[P, R]:
    """Decorate a command so that its failures print one line and exit with the right code."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with failures():
            return function(*args, **kwargs)

    return wrapper


def cli_state(ctx: typer.Context) -> Cli:
    """The invocation state set up by the root callback."""
    root = ctx.find_root()
    state = root.obj
    if not isinstance(state, Cli):
        state = Cli(ClientSettings())
        root.obj = state
    return state


def id_column(header: str) -> Column:
    """A table column of ids the user copies: never cut short; on a narrow terminal the id folds onto
    a second line rather than ending in an ellipsis (``--json`` prints them whole, one per field)."""
    return Column(header, overflow="fold", min_width=36)


def fields_table() -> Table:
    """A two-column name/value table whose values (ids among them) fold instead of being cut."""
    return Table(Column(), Column(overflow="fold"), show_header=False)
