"""The platform's tools around the Pulumi program, one package per concern; `sparkstack` (tools/cli.py) runs them.

Concerns, lowest first. A package may import the ones its docstring names, never one above it; the Pulumi
program (`infra/`) and the policy pack (`policy/`) import nothing from tools/ (tests/test_layout.py checks both):

- `tools/console.py`: exit codes, common flags and terminal progress shared by every command (standard library);
- `tools/doctor/`: diagnosis: reading Spark event logs, folding them, the doctor's checks, the local History Server;
- `tools/pods/`: what the operator submits, what Spark's builders and the operator's webhook make of it, Pod
  Security on the result;
- `tools/engines/`: the real-engine harness (control plane, kwok, the operator on the host, the real Pulumi CLI);
- `tools/dev/`: developer chores: the locks, the local launcher, mutation testing, coverage floors, the CI's
  operator reference;
- `tools/plan/`: the offline plan (the program under the mock engine, its objects as YAML, the pods through
  `tools/pods/`) and the local rehearsal of one planned application (which runs the doctor);
- `tools/cli.py`: the `sparkstack` command, on top of all of them.

`tools/rehearse.py`, `tools/history_server.py` and `tools/local_run.py` only keep the old `python -m tools.<name>`
entry points working (as do `tools/plan/__main__.py` and `tools/doctor/__main__.py`).
"""
