"""The offline plan: what the stack would create, without a cluster or a backend, and a local rehearsal of it.

- `mock_engine.py`: the one Pulumi mock-engine harness (the tests use it too);
- `manifest_yaml.py`: engine values as publishable YAML (secrets masked, stable key order);
- `files.py`: each registered resource as one plan file, named and in deployment order; `render.py`: the index, the
  pods of every application run, writing the folder, and the command (`sparkstack plan`);
- `rehearse.py`: one planned application run locally with its exact settings (`sparkstack rehearse`).

Within tools/ it may import: tools.console, tools.pods, tools.doctor. Outside: infra, pulumi, yaml, pyspark.
"""
