"""Drive the policy pack as the Pulumi CLI does, over the analyzer gRPC protocol, without the CLI.

What the CLI does, and where it is written down (pulumi/pulumi and pulumi/pulumi-policy sources):
- Start: for a `runtime: python` pack, pulumi-language-python's RunPlugin (sdk/python/cmd/pulumi-language-python/
  main.go) runs `<virtualenv python> -u -m pulumi.policy <engine address> <pack directory>` with the pack directory
  as working directory and PULUMI_PROJECT / PULUMI_STACK / PULUMI_DRY_RUN / PULUMI_ORGANIZATION / PULUMI_CONFIG in
  the environment. `pulumi.policy`'s __main__ runs the pack's `__main__.py`; pulumi_policy's `PolicyPack` starts
  a gRPC server on 127.0.0.1 and writes the port, and a newline, to stdout (pulumi_policy/policy.py).
- Then (pkg/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer): `Handshake` (pulumi-policy leaves it
  unimplemented; the CLI falls back on UNIMPLEMENTED), `ConfigureStack`, then `GetAnalyzerInfo`.
- Config (pkg/engine/update.go LoadLocalPolicyPackAnalyzers, pkg/resource/analyzer/config.go): every policy gets
  its enforcement level and its schema's `default` values, `--policy-pack-config` is laid over them (a string sets
  the level, an object sets properties and optionally `enforcementLevel`, the key `all` sets every level), the
  result is validated against each policy's config schema (JSON schema), and sent in one `Configure` call.
- Per resource: `Analyze(AnalyzeRequest{type, properties, urn, name, options, provider})`; properties are a
  protobuf Struct in the engine's wire format (secrets as signature objects, numbers as doubles).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.scopes import child_environment, mutmut_stats_pass

PACK_DIR = Path(__file__).resolve().parent.parent / "policy"
LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str
    message: str
    urn: str


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(dict(value))
    return result


class PolicyPackServer:
    """The pack as a child process plus a gRPC stub, started and configured the way the CLI does it."""

    def __init__(self, pack_dir: Path = PACK_DIR, python: str = sys.executable, stack: str = "dev") -> None:
        self.pack_dir = pack_dir
        self.python = python
        self.stack = stack
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.port = 0
        # Lives as long as this object: the pack's stderr explains a failed start or a non-zero exit.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> PolicyPackServer:
        env = child_environment({**os.environ, "PULUMI_PROJECT": "sparkstack", "PULUMI_STACK": self.stack,
                                 "PULUMI_DRY_RUN": "true", "PULUMI_CONFIG": "{}"})
        # The engine address is only handed through; the pack does not call the engine unless it logs an error.
        self.process = subprocess.Popen(
            [self.python, "-u", "-X", "faulthandler", "-m", "pulumi.policy", "127.0.0.1:1", str(self.pack_dir)],
            cwd=self.pack_dir, env=env, stdout=subprocess.PIPE, stderr=self._stderr,
            # stop() ends the pack with SIGINT, but a child inherits an ignored SIGINT (mutmut's fork server ignores
            # it, and so does a shell's background job) and Python then installs no handler: restore the default.
            preexec_fn=_default_sigint,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=_read_lines, args=(self.process.stdout, lines), daemon=True).start()
        try:
            first = lines.get(timeout=timeout).strip()
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"policy pack printed no port within {timeout}s: {self.stderr()}") from None
        if not first.isdigit():
            self.stop()
            raise RuntimeError(f"policy pack did not start: stdout {first!r}, stderr {self.stderr()}")
        self.port = int(first)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        return self

    def stop(self, timeout: float = 15) -> int | None:
        """SIGINT, which the pack's serve loop turns into `server.stop(0)` and a clean exit (policy.py)."""
        if self.channel is not None:
            self.channel.close()
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Each thread's stack into stderr (faulthandler, on SIGABRT) says where it hung; then it goes.
                self.process.send_signal(signal.SIGABRT)
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        return self.process.returncode

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    # --- RPCs --------------------------------------------------------------------------------------------

    def configure_stack(self) -> None:
        assert self.stub is not None
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project="sparkstack", organization="organization", dry_run=True,
        ))

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        assert self.stub is not None
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def reconcile(self, overrides: Mapping[str, Any] | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
        """Per policy (level, properties), as the CLI computes them from GetAnalyzerInfo and a
        --policy-pack-config document; raises jsonschema.ValidationError where the CLI refuses the config."""
        info = self.info()
        result: dict[str, tuple[str, dict[str, Any]]] = {}
        schemas: dict[str, dict[str, Any]] = {}
        for policy in info.policies:
            properties = json_format.MessageToDict(policy.configSchema.properties)
            schemas[policy.name] = {"type": "object", "properties": properties,
                                    **({"required": list(policy.configSchema.required)}
                                       if policy.configSchema.required else {})}
            defaults = {k: v["default"] for k, v in properties.items() if "default" in v}
            level = analyzer_pb2.EnforcementLevel.Name(policy.enforcementLevel).lower()
            result[policy.name] = (level, defaults)
        overrides = dict(overrides or {})
        if isinstance(overrides.get("all"), str):
            result = {name: (overrides["all"], props) for name, (_, props) in result.items()}
        for name, value in overrides.items():
            if name == "all":
                continue
            level, props = result.get(name, ("advisory", {}))
            if isinstance(value, str):
                level = value
            else:
                given = dict(value)
                level = given.pop("enforcementLevel", level)
                props = {**props, **given}
            result[name] = (level, props)
        for name, (_, props) in result.items():
            if name in schemas:
                jsonschema.validate(props, schemas[name])
        return result

    def configure(self, overrides: Mapping[str, Any] | None = None) -> None:
        assert self.stub is not None
        config = self.reconcile(overrides)
        self.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
            name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=struct(props))
            for name, (level, props) in config.items()
        }))

    def analyze(
        self,
        type_: str,
        name: str,
        properties: Mapping[str, Any],
        urn: str | None = None,
        options: analyzer_pb2.AnalyzerResourceOptions | None = None,
        provider: analyzer_pb2.AnalyzerProviderResource | None = None,
    ) -> list[Diagnostic]:
        assert self.stub is not None
        if mutmut_stats_pass():
            _run_in_process(type_, properties)
        urn = urn or f"urn:pulumi:{self.stack}::sparkstack::{type_}::{name}"
        response = self.stub.Analyze(analyzer_pb2.AnalyzeRequest(
            type=type_, name=name, urn=urn, properties=struct(properties), options=options, provider=provider,
        ))
        return [
            Diagnostic(d.policyName, analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel).lower(), d.message,
                       urn)
            for d in response.diagnostics
        ]

    def analyze_stack(self, resources: list[Any]) -> list[Diagnostic]:
        """AnalyzeStack over resources the mock engine recorded: the stack-wide policies' diagnostics."""
        assert self.stub is not None
        if mutmut_stats_pass():
            _run_stack_in_process([(r.type, r.name, r.inputs) for r in resources])
        response = self.stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
            analyzer_pb2.AnalyzerResource(type=r.type, name=r.name, urn=r.urn, properties=struct(r.inputs))
            for r in resources
        ]))
        return [Diagnostic(d.policyName, analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel).lower(), d.message,
                           d.urn) for d in response.diagnostics]

    def analyze_registered(self, resource: Any, resources: list[Any]) -> list[Diagnostic]:
        """Analyze one resource the mock engine recorded (tools.plan.mock_engine.Registered), with its options and
        provider as the engine would send them."""
        options = analyzer_pb2.AnalyzerResourceOptions(
            protect=resource.protect, parent=resource.parent,
            deleteBeforeReplace=resource.delete_before_replace, deleteBeforeReplaceDefined=True,
            additionalSecretOutputs=resource.additional_secret_outputs,
        )
        provider = None
        provider_urn = resource.provider.split("::")
        provider_urn = "::".join(provider_urn[:-1]) if len(provider_urn) > 1 else ""
        found = next((r for r in resources if r.urn == provider_urn), None)
        if found is not None:
            provider = analyzer_pb2.AnalyzerProviderResource(
                type=found.type, name=found.name, urn=found.urn, properties=struct(found.inputs))
        return self.analyze(resource.type, resource.name, resource.inputs, urn=resource.urn, options=options,
                            provider=provider)


def _run_in_process(type_: str, properties: Mapping[str, Any]) -> None:
    """The rules a request runs in the pack's process, run once more in this one, only during mutmut's stats pass:
    mutmut ties a test to the functions it sees run in the test's own process, so without this a test that checks
    a rule over gRPC would never be run against that rule's mutants (the pack's process does run the mutant)."""
    import sparkstack_rules  # the pack's folder is on pytest's pythonpath, as it is the CLI's working directory

    for rule in sparkstack_rules.RULES:
        if sparkstack_rules.applies_to(rule, type_):
            with contextlib.suppress(Exception):  # only which functions run matters here, not what they say
                sparkstack_rules.verdict(rule, type_, properties)


def _run_stack_in_process(resources: list[tuple[str, str, Mapping[str, Any]]]) -> None:
    """As `_run_in_process`, for the stack-wide rules of AnalyzeStack."""
    import team_rules

    for rule in team_rules.STACK_RULES:
        with contextlib.suppress(Exception):
            team_rules.stack_violations(rule, resources)


def _read_lines(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    """Every line the pack prints, to its end: the first is its port. Read on after it, or a pack that prints more
    (mutmut's trampolines do) fills the pipe, blocks in a write and never exits."""
    for line in iter(stream.readline, b""):
        lines.put(line)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
