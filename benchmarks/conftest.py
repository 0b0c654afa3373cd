"""Fixtures shared by the benchmarks: the built plugin and the project's C host; the soak
benchmarks (marked `soak`: tens of minutes, a 900 MB file) run with --soak only."""
from pathlib import Path

import pytest

from c_host import compile_host


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true",
                     help="also run the soak benchmarks (a 30-minute stream soak, 10 M events of replay)")


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: a long benchmark, run with --soak only")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="a soak benchmark: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> Path:
    return compile_host(tmp_path_factory.mktemp("host"))


@pytest.fixture(scope="module")
def plugin() -> Path:
    import k8saudit_ovh
    path = Path(k8saudit_ovh.__file__).resolve().parent / "libk8saudit-ovh.so"
    if not path.is_file():
        pytest.skip(f"the plugin is not built: {path}")
    return path
