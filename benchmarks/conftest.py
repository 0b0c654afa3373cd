"""Fixtures shared by the benchmarks: the built plugin and the project's C host."""
from pathlib import Path

import pytest

from c_host import compile_host


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
