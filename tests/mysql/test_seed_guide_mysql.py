"""The seed guide on MySQL (issue #8): MLMD's ``mysql`` ConnectionConfig, plain and over TLS.

``tests/store/seed_guide_script.py`` runs the guide's code on a store opened
with a ConnectionConfig; tests/store/test_seed_guide.py runs it on the fake
database and SQLite.  Here it runs with a ``mysql`` config:

- on the test MariaDB, into a database the config creates (MLMD creates it
  unless ``skip_db_creation``);
- on a throwaway MariaDB started by this module with TLS (``scripts/mariadb.sh
  --ssl-dir``): a CA, a server certificate and a client certificate made here
  with ``openssl``, and a user that must present a client certificate
  (REQUIRE X509).  The guide passes with ``ssl_options``; the session is
  encrypted (``Ssl_cipher``); without ``ssl_options``, or with a CA that did
  not sign the server's certificate and ``verify_server_cert``, the store
  refuses to open with a store error that says why.  The same config in a
  ``--metadata_store_server_config_file`` serves a real ``grpcserver``.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connections
from google.protobuf import text_format

from store import errors, metadata_store
from store.proto import metadata_store_pb2 as pb
from store.proto import metadata_store_service_pb2 as svc
from tests.grpc.servers import start_server
from tests.mysql.conftest import throwaway_mariadb
from tests.reliability import conftest as reliability

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "store" / "seed_guide_script.py"

pytestmark = pytest.mark.slow
figure = reliability.figure  # the reliability tests' figure fixture: each test prints its figure


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("seed_guide_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seed = _load_script()


def _check_summary(summary: dict[str, Any]) -> None:
    assert summary["artifact_count"] == 2
    assert summary["event_count"] == 2
    assert summary["execution_state"] == "COMPLETED"
    assert summary["experiment_artifact_ids"] == [summary["model_artifact_id"]]
    assert summary["experiment_execution_ids"] == [summary["run_id"]]


def _admin_sql(config: pb.MySQLDatabaseConfig, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement with the config's account (and TLS files), outside the store."""
    import MySQLdb

    ssl = None
    if config.HasField("ssl_options"):
        ssl = {k: getattr(config.ssl_options, k) for k in ("key", "cert", "ca") if getattr(config.ssl_options, k)}
    db = MySQLdb.connect(host=config.host, port=config.port, user=config.user, password=config.password, ssl=ssl)
    try:
        cursor = db.cursor()
        cursor.execute(statement)
        return list(cursor.fetchall())
    finally:
        db.close()


def _ssl_cipher(store: metadata_store.MetadataStore) -> str:
    """The TLS cipher of the store's own database connection ('' when the session is not encrypted)."""
    connection = connections[store.database_alias]
    with connection.cursor() as cursor:
        cursor.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        return cursor.fetchone()[1] or ""


@pytest.fixture
def db_access(django_db_blocker: Any) -> Iterator[None]:
    """The stores open their own database aliases; let them connect."""
    with django_db_blocker.unblock():
        yield


# ---------------------------------------------------------------------------- plain


def test_seed_guide_on_mysql_creates_its_database(mysql_url: str, db_access: None, figure: Callable[[str], None]) -> None:
    url = urlsplit(mysql_url)
    config = pb.ConnectionConfig()
    config.mysql.host = url.hostname or "127.0.0.1"
    config.mysql.port = url.port or 3306
    config.mysql.user = url.username or ""
    config.mysql.password = url.password or ""
    config.mysql.database = f"mlmd_seed_guide_{os.getpid()}"
    _admin_sql(config.mysql, f"DROP DATABASE IF EXISTS `{config.mysql.database}`")
    try:
        started = time.monotonic()
        summary = seed.run(config)
        elapsed = time.monotonic() - started
        _check_summary(summary)
        tables = _admin_sql(config.mysql, f"SHOW TABLES FROM `{config.mysql.database}` LIKE 'store_artifact'")
        assert tables == [("store_artifact",)], "the config's database was not created and migrated"
    finally:
        _admin_sql(config.mysql, f"DROP DATABASE IF EXISTS `{config.mysql.database}`")
    figure(f"seed guide with a mysql config on {url.hostname}:{url.port}, database created by the store: "
           f"{summary['artifact_count']} artifacts, {summary['event_count']} events in {elapsed:.1f} s")


# ---------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_certificates(directory: Path) -> None:
    """ca.pem signing server-cert.pem (for 127.0.0.1) and client-cert.pem; other-ca.pem signs nothing."""
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=mlmd-test-{ca}",
                 "-keyout", f"{ca}-key.pem", "-out", f"{ca}.pem", cwd=directory)
    for name, extension in (
        ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=mlmd-test-{name}",
                 "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=directory)
        (directory / f"{name}.ext").write_text(extension + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}-cert.pem", cwd=directory)



@dataclass(frozen=True)
class TlsServer:
    host: str
    port: int
    user: str
    password: str
    certs: Path

    def config(self, database: str, *, tls: bool = True, ca: str = "ca.pem", verify: bool = True) -> pb.ConnectionConfig:
        config = pb.ConnectionConfig()
        mysql = config.mysql
        mysql.host, mysql.port, mysql.user, mysql.password, mysql.database = (
            self.host, self.port, self.user, self.password, database,
        )
        if tls:
            mysql.ssl_options.key = str(self.certs / "client-key.pem")
            mysql.ssl_options.cert = str(self.certs / "client-cert.pem")
            mysql.ssl_options.ca = str(self.certs / ca)
            mysql.ssl_options.verify_server_cert = verify
        return config


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """A MariaDB of its own that speaks TLS and admits the user only with a client certificate."""
    certs = tmp_path_factory.mktemp("certs")
    _make_certificates(certs)
    datadir = tmp_path_factory.mktemp("mariadb-tls")
    url = urlsplit(throwaway_mariadb("start", datadir, "--ssl-dir", str(certs)).splitlines()[-1])
    try:
        yield TlsServer(url.hostname or "127.0.0.1", url.port or 3306, url.username or "", url.password or "", certs)
    finally:
        throwaway_mariadb("stop", datadir)


@pytest.fixture(scope="module")
def seeded_over_tls(tls_server: TlsServer, django_db_blocker: Any) -> tuple[dict[str, Any], float]:
    """The guide, run once over TLS into a database its config creates: its summary and duration."""
    started = time.monotonic()
    with django_db_blocker.unblock():
        summary = seed.run(tls_server.config("mlmd_seed_tls"))
    return summary, time.monotonic() - started


def test_seed_guide_over_tls(
    tls_server: TlsServer, seeded_over_tls: tuple[dict[str, Any], float], db_access: None, figure: Callable[[str], None]
) -> None:
    summary, elapsed = seeded_over_tls
    _check_summary(summary)
    config = tls_server.config("mlmd_seed_tls")
    config.mysql.skip_db_creation = True

    # The store's own connection is encrypted (verify_server_cert: the CA signed the server's certificate).
    store = metadata_store.MetadataStore(config)
    try:
        cipher = _ssl_cipher(store)
        assert cipher, "the store's session is not encrypted"
        assert len(store.get_artifacts()) == 2
    finally:
        store.close()

    # Without verify_server_cert (no host name check) the session is just as encrypted.  (MariaDB's
    # client library still checks the certificate chain against a given CA: see the refused cases.)
    unverified = metadata_store.MetadataStore(tls_server.config("mlmd_seed_tls", verify=False))
    try:
        assert _ssl_cipher(unverified)
        assert len(unverified.get_artifacts()) == 2
    finally:
        unverified.close()
    figure(f"seed guide with a mysql config over TLS (client certificate, verify_server_cert): "
           f"{summary['artifact_count']} artifacts, {summary['event_count']} events in {elapsed:.1f} s, cipher {cipher}")


@pytest.mark.parametrize(
    "case, overrides, reason",
    [
        ("no ssl_options", {"tls": False}, "Access denied"),
        ("unverifiable server", {"ca": "other-ca.pem", "verify": True}, ""),
    ],
    ids=["no-ssl-options", "unverifiable-server"],
)
def test_tls_server_refuses_a_config_without_the_right_ssl_options(
    tls_server: TlsServer, db_access: None, case: str, overrides: dict[str, Any], reason: str,
    figure: Callable[[str], None],
) -> None:
    for skip_db_creation in (False, True):
        config = tls_server.config("mlmd_seed_refused", **overrides)
        config.mysql.skip_db_creation = skip_db_creation
        with pytest.raises(errors.StatusError) as caught:
            metadata_store.MetadataStore(config)
        error = caught.value
        # A store error naming the database and the server's answer, not a driver traceback.
        assert error.error_code in (errors.UNAVAILABLE, errors.FAILED_PRECONDITION, errors.INTERNAL), error
        message = str(error)
        assert "mlmd_seed_refused" in message and str(tls_server.port) in message, message
        assert reason in message, message
    figure(f"{case}: refused with {type(error).__name__}: {message[:160]}")


def test_grpc_server_config_file_with_tls(
    tls_server: TlsServer, seeded_over_tls: tuple[dict[str, Any], float], tmp_path: Path, figure: Callable[[str], None]
) -> None:
    config = tls_server.config("mlmd_seed_tls")  # the guide's data, served by a real server
    server_config = pb.MetadataStoreServerConfig()
    server_config.connection_config.CopyFrom(config)
    config_file = tmp_path / "server_config.pbtxt"
    config_file.write_text(text_format.MessageToString(server_config))
    server = start_server(tmp_path / "server", "--metadata_store_server_config_file", str(config_file))
    try:
        artifacts = server.stub().GetArtifacts(svc.GetArtifactsRequest(), timeout=30).artifacts
        assert sorted(a.uri for a in artifacts) == ["path/to/data", "path/to/model/file"]
    finally:
        assert server.terminate() == 0, server.log()
    figure(f"grpcserver --metadata_store_server_config_file with the TLS mysql config: GetArtifacts -> {len(artifacts)}")
