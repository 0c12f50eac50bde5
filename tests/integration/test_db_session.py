"""What a new database connection gets without running any SET (RDS Proxy pins a session that
does): UTC and the 15 s statement timeout as the database's own defaults (migration 0016), on
the session's database and on any database the migrations ran on; and TLS with verify-full
refusing a server whose certificate the configured roots did not sign, or whose name differs.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading

import pytest

from chalicelib import db
from chalicelib.config import reset_settings


def _fresh_session_settings() -> dict[str, tuple[str, str]]:
    conn = db.connect()
    try:
        rows = conn.run("SELECT name, setting, source FROM pg_settings WHERE name IN ('statement_timeout', 'TimeZone')")
        shown = {name: conn.run(f"SHOW {name}")[0][0] for name in ("statement_timeout", "TimeZone")}
    finally:
        conn.close()
    return {name: (shown[name], source) for name, _setting, source in rows}


def test_a_fresh_connection_gets_utc_and_the_timeout_from_the_database_not_a_set(database_url, monkeypatch):
    monkeypatch.delenv("DB_STATEMENT_TIMEOUT_MS", raising=False)
    reset_settings()
    # source "database": ALTER DATABASE ... SET; a SET on the connection would say "session".
    assert _fresh_session_settings() == {"statement_timeout": ("15s", "database"), "TimeZone": ("UTC", "database")}


def test_db_statement_timeout_ms_still_overrides_where_it_is_set(database_url, monkeypatch):
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "120000")
    reset_settings()
    try:
        assert _fresh_session_settings()["statement_timeout"] == ("2min", "session")
    finally:
        monkeypatch.delenv("DB_STATEMENT_TIMEOUT_MS")
        reset_settings()


def test_a_freshly_migrated_database_gets_the_same_defaults(scratch_database):
    from chalicelib.migrate import migrate

    assert _fresh_session_settings()["statement_timeout"][1] != "database"  # nothing before 0016
    migrate()
    assert _fresh_session_settings() == {"statement_timeout": ("15s", "database"), "TimeZone": ("UTC", "database")}


# --- TLS ------------------------------------------------------------------------------------


def _certificates(tmp_path):
    """A private CA and a server certificate for localhost/127.0.0.1 it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crm-inbox test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


@pytest.fixture
def tls_server(tmp_path):
    """A TLS server on 127.0.0.1 that completes handshakes with the certificate above."""
    ca_file, cert_file, key_file = _certificates(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                conn.settimeout(5)
                with server_context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], ca_file
    stop.set()
    thread.join(5)
    listener.close()


def _handshake(port: int, context: ssl.SSLContext, name: str) -> None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname=name),
    ):
        pass


def _context(url_query: str) -> ssl.SSLContext:
    return db.connection_params(f"postgresql://u@localhost/crm?{url_query}")["ssl_context"]


def test_verify_full_accepts_a_server_signed_by_the_configured_roots(tls_server):
    port, ca_file = tls_server
    _handshake(port, _context(f"sslmode=verify-full&sslrootcert={ca_file}"), "localhost")


def test_verify_full_refuses_a_server_the_roots_did_not_sign(tls_server):
    port, _ = tls_server
    # The deployed setting: the Amazon roots in the package; our private CA is not among them.
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(port, _context("sslmode=verify-full&sslrootcert=system"), "localhost")


def test_verify_full_refuses_a_certificate_for_another_name_verify_ca_does_not(tls_server):
    port, ca_file = tls_server
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(port, _context(f"sslmode=verify-full&sslrootcert={ca_file}"), "db.example.com")
    _handshake(port, _context(f"sslmode=verify-ca&sslrootcert={ca_file}"), "db.example.com")


def test_the_system_roots_are_the_amazon_ones_rds_proxy_certificates_chain_to():
    subjects = {
        dict(part[0] for part in cert["subject"]).get("commonName")
        for cert in _context("sslmode=verify-full&sslrootcert=system").get_ca_certs()
    }
    assert {"Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4"} <= subjects
    assert "Starfield Services Root Certificate Authority - G2" in subjects


def test_system_roots_only_with_verify_full_as_in_libpq():
    with pytest.raises(ValueError, match="verify-full"):
        _context("sslmode=verify-ca&sslrootcert=system")
