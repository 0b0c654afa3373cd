"""`k8saudit-ovh setup`: from an OVHcloud API key to a working Falco configuration."""
