"""k8saudit-ovh: a Falco plugin for Kubernetes audit events of OVHcloud MKS clusters.

`extract(event_json, fields)` runs the plugin's own field extraction (the same C++ code
Falco calls) on one audit event. The compiled modules load on first use, so the pure
Python parts (open params, the LDP reader, the config table) import without a build.
"""
from ._version import VERSION as __version__

__all__ = ["__version__", "extract"]


def __getattr__(name):
    if name == "extract":
        from ._extract import extract
        return extract
    raise AttributeError(f"module 'k8saudit_ovh' has no attribute {name!r}")
