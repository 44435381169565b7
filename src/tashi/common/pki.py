"""A private certificate authority for a cluster that has none: ``tashi up --tls``.

It makes, once, in a directory: a CA (``ca.pem``, its key ``ca-key.pem``) and a
server certificate for the manager (``manager.pem``, ``manager-key.pem``) signed by
it, naming the addresses clients use. Agents and the CLI then verify the manager
against ``ca.pem``. Keys are written mode 0600; nothing here is ever logged.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tashi.common.files import write_private

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tashi"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _make_ca(now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("Tashi cluster CA"))
            .issuer_name(_name("Tashi cluster CA")).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _alt_names(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _make_server(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, names: list[str],
                 now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_alt_names(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def ensure_private_ca(directory: Path, names: list[str]) -> TlsFiles:
    """The CA and the manager's certificate in ``directory``, made if missing. The
    manager's certificate is made again (by the same CA) when it lacks one of ``names``."""
    files = TlsFiles(directory / "ca.pem", directory / "manager.pem",
                     directory / "manager-key.pem")
    ca_key_path = directory / "ca-key.pem"
    now = datetime.now(UTC)
    if files.ca_cert.exists() and ca_key_path.exists():
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca_key = loaded
    else:
        ca_key, ca = _make_ca(now)
        write_private(ca_key_path, _pem_key(ca_key))
        write_private(files.ca_cert, _pem_cert(ca))
        log.info("TLS: made a private CA in %s", directory)
    if not _covers(files.cert, names):
        key, cert = _make_server(ca_key, ca, names, now)
        write_private(files.key, _pem_key(key))
        write_private(files.cert, _pem_cert(cert))
        log.info("TLS: made the manager's certificate for %s", ", ".join(names))
    return files


def _covers(cert_path: Path, names: list[str]) -> bool:
    if not cert_path.exists():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(v) for v in alt.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in alt.get_values_for_type(x509.IPAddress)}
    return set(names) <= have and cert.not_valid_after_utc > datetime.now(UTC) + timedelta(days=7)
