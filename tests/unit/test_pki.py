"""The private CA of `tashi up --tls`: files, modes, and a real TLS handshake."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

import pytest

from tashi.common.pki import TlsFiles, ensure_private_ca


def test_makes_ca_and_server_cert_once(tmp_path: Path) -> None:
    files = ensure_private_ca(tmp_path, ["localhost", "127.0.0.1"])
    for path in (files.key, tmp_path / "ca-key.pem"):
        assert path.stat().st_mode & 0o777 == 0o600
    before = files.cert.read_bytes(), files.ca_cert.read_bytes()
    again = ensure_private_ca(tmp_path, ["localhost"])
    assert (again.cert.read_bytes(), again.ca_cert.read_bytes()) == before
    wider = ensure_private_ca(tmp_path, ["localhost", "127.0.0.1", "tashi.example"])
    assert wider.cert.read_bytes() != before[0]  # re-issued for the new name...
    assert wider.ca_cert.read_bytes() == before[1]  # ...by the same CA


def handshake(server: TlsFiles, ca_cert: Path) -> bytes:
    """Serve with ``server``'s certificate; connect trusting only ``ca_cert``."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(server.cert, server.key)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"hello")
        except (ssl.SSLError, OSError):
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        client_ctx = ssl.create_default_context(cafile=str(ca_cert))
        with socket.create_connection(listener.getsockname()) as raw, \
                client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.recv(5)
    finally:
        thread.join()
        listener.close()


def test_handshake_verifies_against_the_ca(tmp_path: Path) -> None:
    files = ensure_private_ca(tmp_path, ["localhost", "127.0.0.1"])
    assert handshake(files, files.ca_cert) == b"hello"


def test_a_stranger_is_not_trusted(tmp_path: Path) -> None:
    ours = ensure_private_ca(tmp_path / "a", ["localhost", "127.0.0.1"])
    theirs = ensure_private_ca(tmp_path / "b", ["localhost", "127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(theirs, ours.ca_cert)
