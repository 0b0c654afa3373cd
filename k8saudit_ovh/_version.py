# Must stay 0.y.z with y >= 6: the official k8s_audit_rules.yaml accepts k8saudit-ovh >= 0.6.0.
VERSION = "0.7.0"
