"""Generate the Python API package from protos/ — the one place generated code comes from.

Output goes to ``likeness/api``: ``*_pb2.py`` and ``*_pb2.pyi`` (protoc), ``*_pb2_grpc.py`` and
``*_pb2_grpc.pyi`` (grpcio-tools, mypy-protobuf). Proto packages are ``likeness.<service>.v1``; the
Python modules live under ``likeness.api.<service>.v1`` so that they never collide with the service
packages (``likeness.<service>``), and imports in the generated files are rewritten to match.

``buf/validate/validate.proto`` (protovalidate's rules) is not fetched from a registry — no machine
here reaches one. Its descriptor ships inside the installed ``protovalidate`` package; we compile
against that descriptor and generate its Python module alongside ours.

Usage: ``python scripts/gen_protos.py`` (writes), ``--check`` (fails if the committed output differs),
``--image PATH`` (also writes a binary descriptor image, used by ``buf lint``).
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from google.protobuf import descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
API_PACKAGE = ROOT / "likeness" / "api"
VALIDATE_PROTO = "buf/validate/validate.proto"

# Generated imports name the proto package; our modules live one level down, under likeness.api.
IMPORT_REWRITES = [
    (re.compile(r"^(from|import) likeness\.(\w+)\.v(\d+)", re.M), r"\1 likeness.api.\2.v\3"),
    (re.compile(r"^(from|import) buf\.validate", re.M), r"\1 likeness.api.buf.validate"),
    (re.compile(r"\blikeness\.(\w+)\.v(\d+)\.(\w+_pb2)\b"), r"likeness.api.\1.v\2.\3"),
    (re.compile(r"\bbuf\.validate\.validate_pb2\b"), r"likeness.api.buf.validate.validate_pb2"),
]


def _validate_descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """protovalidate's rules file and the well-known types it imports, as one descriptor set."""
    from protovalidate._gen.buf.validate import validate_pb

    file_set = descriptor_pb2.FileDescriptorSet()
    for module in (descriptor_pb2, duration_pb2, field_mask_pb2, timestamp_pb2):
        module.DESCRIPTOR.CopyToProto(file_set.file.add())
    file_set.file.add().ParseFromString(validate_pb.desc().proto.to_binary())
    return file_set


def _proto_files(proto_root: Path) -> list[str]:
    return sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))


def _run_protoc(out_dir: Path, image: Path | None, proto_root: Path = PROTO_ROOT) -> None:
    import grpc_tools

    deps = out_dir / "deps.binpb"
    deps.write_bytes(_validate_descriptor_set().SerializeToString())
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--proto_path={well_known}",
        f"--descriptor_set_in={deps}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--plugin=protoc-gen-mypy_grpc={Path(sys.executable).parent / 'protoc-gen-mypy_grpc'}",
        f"--mypy_grpc_out={out_dir}",
    ]
    if image is not None:
        args += [f"--descriptor_set_out={image}", "--include_imports", "--include_source_info"]
    args += [*_proto_files(proto_root), VALIDATE_PROTO]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"protoc failed with exit code {result.returncode}")


GENERATED_VERSION = re.compile(r"^GRPC_GENERATED_VERSION = '[^']*'$", re.M)


def _grpcio_floor() -> str:
    """The lowest grpcio the project allows (pyproject's ``grpcio>=X``), as X.Y.Z."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        found = re.fullmatch(r"grpcio\s*>=\s*([\d.]+)(,.*)?", requirement)
        if found:
            parts = found.group(1).split(".")
            return ".".join([*parts, "0", "0"][:3])
    raise SystemExit("pyproject.toml names no grpcio>=X requirement")


def _rewrite(text: str) -> str:
    for pattern, replacement in IMPORT_REWRITES:
        text = pattern.sub(replacement, text)
    # grpcio-tools stamps its own release as the oldest grpcio the stubs accept. The stubs need no
    # more than the project's own floor, and stamping that keeps the output independent of which patch
    # release of grpcio-tools generated it.
    return GENERATED_VERSION.sub(f"GRPC_GENERATED_VERSION = '{_grpcio_floor()}'", text)


def _generate(image: Path | None) -> dict[str, str]:
    """Return {path relative to likeness/api: content} for every generated file."""
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        _run_protoc(out_dir, image)
        generated: dict[str, str] = {}
        for path in sorted(out_dir.rglob("*")):
            if path.suffix not in (".py", ".pyi") or path.name.startswith("validate_pb2_grpc"):
                continue
            relative = path.relative_to(out_dir)
            if relative.parts[0] == "likeness":
                relative = Path(*relative.parts[1:])
            generated[str(relative)] = _rewrite(path.read_text())
    # Every directory is a regular package so that type checkers and setuptools find the modules.
    for name in list(generated):
        for parent in Path(name).parents:
            init = str(parent / "__init__.py") if str(parent) != "." else "__init__.py"
            generated.setdefault(init, "")
    generated["__init__.py"] = (
        '"""Generated protobuf and gRPC modules (scripts/gen_protos.py). Do not edit."""\n'
    )
    return generated


def _committed() -> dict[str, str]:
    if not API_PACKAGE.exists():
        return {}
    return {
        str(p.relative_to(API_PACKAGE)): p.read_text()
        for p in sorted(API_PACKAGE.rglob("*"))
        if p.suffix in (".py", ".pyi")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if regeneration changes anything")
    parser.add_argument("--image", type=Path, help="also write a descriptor image (for buf lint)")
    parser.add_argument(
        "--image-only",
        type=Path,
        metavar="PROTO_ROOT",
        help="only write --image, from the protos under PROTO_ROOT (e.g. an older commit's)",
    )
    args = parser.parse_args()

    if args.image_only is not None:
        if args.image is None:
            parser.error("--image-only needs --image")
        with tempfile.TemporaryDirectory() as tmp:
            _run_protoc(Path(tmp), args.image, args.image_only.resolve())
        return 0

    generated = _generate(args.image)
    if args.check:
        committed = _committed()
        if committed == generated:
            print(f"likeness/api is up to date ({len(generated)} files)")
            return 0
        for name in sorted(set(committed) | set(generated)):
            if committed.get(name) != generated.get(name):
                diff = difflib.unified_diff(
                    committed.get(name, "").splitlines(),
                    generated.get(name, "").splitlines(),
                    f"committed/{name}",
                    f"generated/{name}",
                    lineterm="",
                    n=1,
                )
                print("\n".join(list(diff)[:40]))
        print("likeness/api differs from protos/: run `python scripts/gen_protos.py` and commit")
        return 1

    if API_PACKAGE.exists():
        shutil.rmtree(API_PACKAGE)
    for name, content in generated.items():
        target = API_PACKAGE / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    print(f"wrote {len(generated)} files to {API_PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
