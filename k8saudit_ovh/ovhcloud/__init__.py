"""`k8saudit-ovh setup` on OVHcloud: the API calls it makes (api_calls.py, the one table of
calls and IAM actions), python-ovh's client (api.py), what a 403 means (forbidden.py), the
objects it finds or creates (cluster.py, service.py, stream.py, alias.py), LDP operations and
waits (operations.py), the history's credentials and their probe (credentials.py,
history_probe.py), the files it writes (outputs.py), the flow (flow.py) and `--check`
(check.py). The command itself is k8saudit_ovh/cli/setup.py."""
