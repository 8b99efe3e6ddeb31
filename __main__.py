"""sparkstack: a Spark-on-Kubernetes batch platform and its PySpark jobs, as one Pulumi stack."""

import pulumi

from infra.config_loader import load_config
from infra.secrets import Secrets
from infra.stack import build_stack

# Validate everything first: a config error must stop the run before any resource is registered.
config = load_config()
outputs = build_stack(config, Secrets.load())
for key, value in outputs.items():
    pulumi.export(key, value)
