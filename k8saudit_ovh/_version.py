# Must stay 0.y.z with y >= 6: the official k8s_audit_rules.yaml accepts k8saudit-ovh >= 0.6.0.
VERSION = "0.7.0"
# The json plugin (libk8saudit-ovh-json.so) goes with the project's version while that is
# 0.y.z with y >= 7: the rules that need `json` ask for >= 0.7.0 (same major, minor >= 7).
JSON_PLUGIN_VERSION = VERSION
