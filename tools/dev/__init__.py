"""Developer chores: what sets up, checks and measures the project rather than the platform.

- `locks.py`: compiling and checking the lock files (`scripts/lock.sh`);
- `local_run.py`: the local launcher of a job (`sparkstack run`, `scripts/run-local.sh`);
- `mutation.py`: mutation testing per package (`scripts/mutation.sh`);
- `coverage_floor.py`: coverage per package against its floor (`scripts/test.sh`);
- `operator_reference.py`: the CI's operator reference, checked against its pins;
- `s3a_jars.py`: hadoop-aws and the AWS SDK modules it needs, fetched once per machine (the `s3a://` test).

Within tools/ it may import: tools.console. Outside: the standard library, jobs/ (the launcher runs them),
`infra.versions` (pinned versions), pyspark, coverage.
"""
