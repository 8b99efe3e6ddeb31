"""The real-engine harness: a Kubernetes control plane, kwok, the Spark Operator and YuniKorn on 127.0.0.1, and
the real Pulumi CLI and Kubernetes provider driving the stack against it.

What it holds:
- `go/`: our wrapper Go modules that pin and build the engines from their published modules
  (`scripts/build-engines.sh`); `shims/`: the dynamic-provider host launcher a Go build does not produce;
- `pki.py`: the local cluster's certificates; `kube.py`: a small Kubernetes API client (stdlib only);
- `kwok_stages.yaml`: how kwok's fake node moves pods along (drivers succeed, or fail on request);
- `local_cluster.py`: start and stop the control plane, kwok and the operator (`scripts/local-cluster.sh`);
- `operator_host.py`: runs operator v2.5.2's controller and webhook on the host once the chart has installed them;
- `yunikorn_host.py`: runs Apache YuniKorn 1.8.0's scheduler against the cluster with a given queue config;
- `pulumi_run.py`: the stack under the real CLI (as an Automation API inline program; local policy packs as
  binary analyzer plugins).

Within tools/ it may import: tools.console. Outside: the standard library, `yaml`, pulumi (the Automation API).
"""
