"""Fixtures shared by the plugin tests: the built plugin, the C test host, ../shared."""
import os
from pathlib import Path

import pytest

from c_host import compile_host
from ldp_server import LdpServer

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
# .ci/run sets it: there, a test that finds no ../shared fails instead of skipping.
REQUIRE_SHARED = "K8A_REQUIRE_SHARED"


def require_shared(path: Path) -> Path:
    """`path` (under ../shared), or skip the test without it: ../shared is reference material
    a checkout may not have. Under K8A_REQUIRE_SHARED=1 (CI) the test fails instead."""
    if not path.exists():
        reason = f"{path} is not available"
        if os.environ.get(REQUIRE_SHARED) == "1":
            pytest.fail(f"{reason} ({REQUIRE_SHARED}=1: tests that read ../shared must run)", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def plugin() -> Path:
    import k8saudit_ovh
    path = Path(k8saudit_ovh.__file__).resolve().parent / "libk8saudit-ovh.so"
    assert path.is_file(), f"the plugin is not built: {path} (pip install -e .)"
    return path


@pytest.fixture(scope="session")
def host(tmp_path_factory) -> Path:
    return compile_host(tmp_path_factory.mktemp("host"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    return require_shared(CORPUS)


@pytest.fixture
def server():
    """Starts LDP-compatible servers on loopback; every one is stopped after the test."""
    servers = []

    def make(frames, behavior=None, **kwargs):
        started = LdpServer(frames, behavior, **kwargs).start()
        servers.append(started)
        return started

    yield make
    for started in servers:
        started.stop(abort=True)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A test CA and a server certificate for 127.0.0.1: (ca_file, (cert_file, key_file))."""
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return str(ca_file), (str(cert_file), str(key_file))


@pytest.fixture(autouse=True)
def no_proxy_from_environment(monkeypatch):
    """websocket-client honours *_proxy variables; tests talk to loopback only."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
