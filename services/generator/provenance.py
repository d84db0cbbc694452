"""C2PA content credentials for generated clips (c2pa-python).

Each clip gets a manifest with a ``c2pa.created`` action whose IPTC digital source type is
``trainedAlgorithmicMedia``, and a Likeness assertion naming the job, the characters, their identity
versions and the consent records used. Manifests are signed offline (no timestamp authority) with a key
and certificate chain from settings; without them the service makes a development chain on first
start: a self-signed root and an end-entity certificate (CA false, critical KeyUsage
digitalSignature, extended key usage emailProtection — what the C2PA library accepts). A reader that
is not given that root as a trust anchor reports the signature valid but the chain untrusted.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CREATED_ACTION = "c2pa.created"
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
LIKENESS_ASSERTION = "com.likeness.generation"
CLAIM_GENERATOR = "likeness-generator"


@dataclass(frozen=True)
class SigningIdentity:
    """PEM certificate chain (end-entity first) and PEM private key; ES256 (P-256)."""

    certificate_chain_pem: bytes
    private_key_pem: bytes
    #: The root to trust when reading our own manifests back (the development root); may be empty.
    trust_anchor_pem: bytes = b""


@dataclass(frozen=True)
class SignedClip:
    clip: bytes
    manifest_store: bytes
    #: SHA-256 of the Likeness assertion as embedded (canonical JSON): what the asset record names.
    provenance_sha256: str


def load_signing_identity(
    certificate_path: Path, key_path: Path, trust_anchor_path: Path | None
) -> SigningIdentity:
    anchor = trust_anchor_path.read_bytes() if trust_anchor_path and trust_anchor_path.exists() else b""
    return SigningIdentity(certificate_path.read_bytes(), key_path.read_bytes(), anchor)


def development_identity(directory: Path) -> SigningIdentity:
    """The development chain in ``directory``, made on first use (key files readable by this user only)."""
    root_path = directory / "c2pa-dev-root.pem"
    chain_path = directory / "c2pa-dev-chain.pem"
    key_path = directory / "c2pa-dev-key.pem"
    if not (root_path.exists() and chain_path.exists() and key_path.exists()):
        directory.mkdir(parents=True, exist_ok=True)
        root_pem, chain_pem, key_pem = make_development_chain()
        _write_private(key_path, key_pem)
        chain_path.write_bytes(chain_pem)
        root_path.write_bytes(root_pem)
    return SigningIdentity(chain_path.read_bytes(), key_path.read_bytes(), root_path.read_bytes())


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def make_development_chain() -> tuple[bytes, bytes, bytes]:
    """(root certificate PEM, chain PEM: end-entity then root, end-entity private key PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Likeness development"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Likeness development root (not trusted)"),
        ]
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Likeness development"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Likeness generator (development)"),
                ]
            )
        )
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    root_pem = root.public_bytes(serialization.Encoding.PEM)
    chain_pem = signer.public_bytes(serialization.Encoding.PEM) + root_pem
    key_pem = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return root_pem, chain_pem, key_pem


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def likeness_assertion(
    *,
    job_id: str,
    brand_id: str,
    shot_indexes: list[int],
    characters: list[dict[str, Any]],
    presets: list[str] | None = None,
    purpose: str,
    channel: str,
    territory: str,
    model: dict[str, Any],
) -> dict[str, Any]:
    """The Likeness assertion: what the clip was made from and under which consent records.

    ``characters`` entries hold character_id, identity_version and consent_id; ``presets`` the speed
    preset of each shot ("final", "fast" or "draft"), in ``shot_indexes``' order.
    """
    presets = presets or ["final"] * len(shot_indexes)
    return {
        "job_id": job_id,
        "brand_id": brand_id,
        # Objects, not a bare list of small integers: C2PA's JSON to CBOR conversion would turn that
        # into a byte string.
        "shots": [
            {"shot_index": index, "preset": preset}
            for index, preset in zip(shot_indexes, presets, strict=True)
        ],
        "characters": characters,
        "usage": {"purpose": purpose, "channel": channel, "territory": territory},
        "model": model,
        "ai_generated": True,
    }


def sign_clip(identity: SigningIdentity, clip: bytes, assertion: dict[str, Any], title: str) -> SignedClip:
    """Embed a signed C2PA manifest in an MP4; returns the signed clip and its manifest store."""
    manifest = {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": "1"}],
        "title": title,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": CREATED_ACTION,
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": CLAIM_GENERATOR},
                        }
                    ]
                },
            },
            {"label": LIKENESS_ASSERTION, "data": assertion},
        ],
    }
    signer_info = c2pa.C2paSignerInfo(
        alg=b"es256",
        sign_cert=identity.certificate_chain_pem,
        private_key=identity.private_key_pem,
        ta_url=None,
    )
    destination = io.BytesIO()
    with c2pa.Signer.from_info(signer_info) as signer, c2pa.Builder(manifest) as builder:
        manifest_store = builder.sign(signer, "video/mp4", io.BytesIO(clip), destination)
    return SignedClip(
        destination.getvalue(), bytes(manifest_store), hashlib.sha256(canonical_json(assertion)).hexdigest()
    )


def read_manifest(clip: bytes, trust_anchor_pem: bytes = b"") -> dict[str, Any]:
    """The clip's manifest store as JSON (``validation_state``, ``manifests``, ``active_manifest``)."""
    settings: dict[str, Any] = {"verify": {"verify_trust": bool(trust_anchor_pem)}}
    if trust_anchor_pem:
        settings["trust"] = {"trust_anchors": trust_anchor_pem.decode()}
    with (
        c2pa.Context.from_dict(settings) as context,
        c2pa.Reader("video/mp4", io.BytesIO(clip), context=context) as reader,
    ):
        result: dict[str, Any] = json.loads(reader.json())
    return result
