"""Teams' rules that span keys, and whether each application can ever fit its team's quota, queue and LimitRange.

A Spark application whose largest footprint exceeds its namespace's ResourceQuota is not refused at submission:
the driver starts, asks for executors, and the ones over the quota are refused by the API server, over and over.
Under a batch scheduler the gang waits forever instead. Either way nothing says why, so the figures are checked
here, at preview, before any resource is created.

Pod sizes follow Spark 4.0.4 on Kubernetes (spark-kubernetes jar, BasicDriverFeatureStep and
BasicExecutorFeatureStep; executor memory from ResourceProfile.ExecutorResourcesOrDefaults.totalMemMiB):
memory + overhead (+ off-heap when enabled, + spark.executor.pyspark.memory for executors), where the overhead is
`memoryOverhead` if set, else max(factor x memory, minMemoryOverhead = 384 MiB), and the factor is
spark.<role>.memoryOverheadFactor, else spark.kubernetes.memoryOverheadFactor, else 0.4 for Python applications.
The CPU request is coreRequest, else cores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from infra.config import ClusterConfig, PlatformConfig, Problem, Resources, TeamConfig
from infra.config_applications import ApplicationConfig, PodConfig
from infra.conventions import PRIORITY_CLASSES
from infra.values import MIB, _dns_label, quantity_value, spark_size_bytes

NON_JVM_OVERHEAD_FACTOR = Decimal("0.4")
MIN_OVERHEAD_MIB = 384


def _mib(value: str) -> int:
    return spark_size_bytes(value) // MIB


def pod_memory_mib(role: str, pod: PodConfig, memory: str, conf: Mapping[str, str]) -> int:
    """The memory request (= limit) of a driver or executor pod, in MiB, as Spark 4.0.4 computes it."""
    heap = _mib(memory)
    if pod.memory_overhead is not None:
        overhead = _mib(pod.memory_overhead)
    else:
        factor_key = f"spark.{role}.memoryOverheadFactor"
        factor = Decimal(conf.get(factor_key, conf.get("spark.kubernetes.memoryOverheadFactor",
                                                      str(NON_JVM_OVERHEAD_FACTOR))))
        minimum = _mib(conf[f"spark.{role}.minMemoryOverhead"]) if f"spark.{role}.minMemoryOverhead" in conf \
            else MIN_OVERHEAD_MIB
        overhead = max(int(factor * heap), minimum)
    total = heap + overhead
    if conf.get("spark.memory.offHeap.enabled", "false").strip().lower() == "true":
        total += _mib(conf.get("spark.memory.offHeap.size", "0m"))
    if role == "executor" and "spark.executor.pyspark.memory" in conf:
        total += _mib(conf["spark.executor.pyspark.memory"])
    return total


def pod_cpu(pod: PodConfig) -> Decimal:
    return quantity_value(pod.core_request) if pod.core_request else Decimal(pod.cores)


@dataclass(frozen=True)
class Footprint:
    """An application at its largest: the driver and every executor it may ask for."""

    executors: int
    driver_mib: int
    executor_mib: int
    driver_cpu: Decimal
    executor_cpu: Decimal

    @property
    def memory_bytes(self) -> int:
        return (self.driver_mib + self.executors * self.executor_mib) * MIB

    @property
    def cpu(self) -> Decimal:
        return self.driver_cpu + self.executors * self.executor_cpu

    @property
    def pods(self) -> int:
        return 1 + self.executors


def gang_executors(app: ApplicationConfig) -> int:
    """The executors in YuniKorn's gang: operator v2.5.2's util.GetInitialExecutorNumber, the largest of
    executor.instances, minExecutors and initialExecutors (the spec carries no instances with dynamic allocation)."""
    da = app.dynamic_allocation
    return max(da.min_executors, da.initial_executors) if da.enabled else app.executor.instances


def gang_peak(app: ApplicationConfig) -> Footprint:
    """What a team's ResourceQuota holds while YuniKorn gathers an application's gang. Quota is charged when a
    pod is created: the pending driver, a placeholder standing in for it, and one per gang executor (k8shim v1.8.0
    pkg/cache/placeholder.go, sized as the operator's internal/scheduler/yunikorn/scheduler.go asks). The driver
    thus counts twice: the footprint returned holds both its pod and its placeholder as "the driver"."""
    fp = footprint(app)
    return Footprint(executors=gang_executors(app), driver_mib=2 * fp.driver_mib, executor_mib=fp.executor_mib,
                     driver_cpu=2 * fp.driver_cpu, executor_cpu=fp.executor_cpu)


def footprint(app: ApplicationConfig) -> Footprint:
    da = app.dynamic_allocation
    return Footprint(
        executors=da.max_executors if da.enabled else app.executor.instances,
        driver_mib=pod_memory_mib("driver", app.driver, app.driver.memory, app.spark_conf),
        executor_mib=pod_memory_mib("executor", app.executor, app.executor.memory, app.spark_conf),
        driver_cpu=pod_cpu(app.driver),
        executor_cpu=pod_cpu(app.executor),
    )


def gib(value: int | Decimal) -> str:
    return f"{Decimal(value) / 2**30:.1f}Gi"


def _cores(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _gang_problems(path: str, app: ApplicationConfig, fp: Footprint, team_name: str,
                   team: TeamConfig) -> Iterator[Problem]:
    """A gang the quota cannot hold at once loses its placeholders, and YuniKorn then runs the driver alone
    (tests/test_real_yunikorn.py). Checked only where the largest footprint fits, so one cause gets one line."""
    peak = gang_peak(app)
    while_ = (f"while YuniKorn gathers its gang (the driver and its placeholder, and {peak.executors} executor "
              f"placeholders)")
    fix = "lower minExecutors/initialExecutors or the driver's size, or raise the team's quota"
    q = team.quota
    if fp.memory_bytes <= quantity_value(q.memory) < peak.memory_bytes:
        yield Problem(path, f"needs {gib(peak.memory_bytes)} memory {while_}; team {team_name} allows {q.memory}; "
                      f"{fix}", show_got=False)
    if fp.cpu <= quantity_value(q.cpu) < peak.cpu:
        yield Problem(path, f"needs {_cores(peak.cpu)} CPU {while_}; team {team_name} allows {q.cpu}; {fix}",
                      show_got=False)
    if peak.pods + 1 > q.pods:
        yield Problem(path, f"needs {peak.pods + 1} pods {while_}; team {team_name} allows {q.pods}; {fix}.pods",
                      show_got=False)


def queue_max(team: TeamConfig) -> Resources:
    """A team without a queue of its own may use its quota."""
    return team.queue.max if team.queue else Resources(cpu=team.quota.cpu, memory=team.quota.memory)


def _fit_problems(name: str, app: ApplicationConfig, team_name: str, team: TeamConfig,
                  gang: bool = False) -> Iterator[Problem]:
    path = f"applications.{name}"
    fp = footprint(app)
    at = f"at {fp.executors} executors"
    limits = [(f"team {team_name} allows", team.quota.cpu, team.quota.memory)]
    if team.queue:
        limits.append((f"the queue of team {team_name} allows at most", team.queue.max.cpu, team.queue.max.memory))
    for who, cpu, memory in limits:
        if fp.memory_bytes > quantity_value(memory):
            yield Problem(path, f"needs {gib(fp.memory_bytes)} memory {at}; {who} {memory}; lower "
                          "maxExecutors or the executor memory, or raise the team's limit", show_got=False)
        if fp.cpu > quantity_value(cpu):
            yield Problem(path, f"needs {_cores(fp.cpu)} CPU {at}; {who} {cpu}; lower maxExecutors or "
                          "coreRequest, or raise the team's limit", show_got=False)
    if fp.pods > team.quota.pods:
        yield Problem(path, f"needs {fp.pods} pods {at}; team {team_name} allows {team.quota.pods}; lower "
                      "maxExecutors or raise the team's quota.pods", show_got=False)
    elif gang:
        yield from _gang_problems(path, app, fp, team_name, team)
    # The LimitRange caps each container at the team's quota (teams.py): one pod must fit on its own.
    for role, mib in (("driver", fp.driver_mib), ("executor", fp.executor_mib)):
        if mib * MIB > quantity_value(team.quota.memory):
            yield Problem(f"{path}.{role}.memory", f"one {role} pod needs {gib(mib * MIB)}; the LimitRange of team "
                          f"{team_name} allows at most {team.quota.memory} per container", show_got=False)


def _capacity_problems(platform: PlatformConfig, teams: Mapping[str, TeamConfig]) -> Iterator[Problem]:
    capacity = platform.capacity
    guaranteed = {n: t.queue.guaranteed for n, t in teams.items() if t.queue and t.queue.guaranteed}
    if capacity is None or not guaranteed:
        return
    for key, unit in (("memory", gib), ("cpu", _cores)):
        total = sum(quantity_value(getattr(g, key)) for g in guaranteed.values())
        if total > quantity_value(getattr(capacity, key)):
            parts = " + ".join(f"{n} {getattr(g, key)}" for n, g in guaranteed.items())
            yield Problem("teams", f"the queues' guaranteed {key} adds up to {unit(total)} ({parts}); the cluster "
                          f"has {getattr(capacity, key)} (platform.capacity.{key}); lower a team's "
                          "queue.guaranteed", show_got=False)


def team_name_problems(name: str, platform: PlatformConfig | None) -> Iterator[Problem]:
    """The team's namespace takes its name: a DNS label, and not a namespace the platform or Kubernetes uses."""
    reserved = {platform.namespace, platform.operator.namespace, platform.yunikorn.namespace} if platform else set()
    try:
        _dns_label(name)
    except ValueError as exc:
        yield Problem(f"teams.{name}", f"{exc}; the team's namespace takes this name", name)
    if name in reserved or name.startswith("kube-") or name == "default":
        yield Problem(f"teams.{name}", "is a namespace the platform (or Kubernetes) already uses; rename the team",
                      name)


def team_problems(platform: PlatformConfig | None, teams: Mapping[str, TeamConfig],
                  applications: Mapping[str, ApplicationConfig], names: Iterable[str] = (),
                  cluster: ClusterConfig | None = None) -> Iterator[Problem]:
    """Team names (`names`: every configured one, also those whose settings did not parse), references to teams
    and priority classes, queue bounds, capacity, and every application's fit."""
    for name in dict.fromkeys([*names, *teams]):
        yield from team_name_problems(name, platform)
    for name, team in teams.items():
        yield from team.problems(name)
        queue = team.queue
        if queue and queue.guaranteed:
            for key in ("cpu", "memory"):
                if quantity_value(getattr(queue.guaranteed, key)) > quantity_value(getattr(queue.max, key)):
                    yield Problem(f"teams.{name}.queue.guaranteed.{key}", f"is above queue.max.{key} "
                                  f"({getattr(queue.max, key)}); lower it", getattr(queue.guaranteed, key))
    if platform is not None:
        yield from _capacity_problems(platform, teams)
        team_apps = [n for n, a in applications.items() if a.team is not None]
        # On kind every namespace's drivers share one folder on the nodes (infra/platform/event_logs.py).
        on_kind = cluster is not None and cluster.kind == "kind"
        if team_apps and platform.history.enabled and platform.history.on_data_volume and not on_kind:
            yield Problem("platform.history.logDirectory", f"{', '.join(team_apps)} run in their teams' namespaces, "
                          "whose drivers cannot write to the platform's data claim; keep event logs in object "
                          "storage (s3a://bucket/prefix), which every team's drivers and the History Server share, "
                          "or set platform.history.enabled: false", platform.history.log_directory)
    for name, app in applications.items():
        if app.priority is not None and app.priority not in PRIORITY_CLASSES:
            yield Problem(f"applications.{name}.priority", "is not one of the platform's priority classes; write "
                          f"one of {', '.join(PRIORITY_CLASSES)}", app.priority)
        if app.team is None:
            continue
        team = teams.get(app.team)
        if team is None:
            known = ", ".join(sorted(teams)) or "none configured under sparkstack:teams"
            yield Problem(f"applications.{name}.team", f"is not a team; use one of: {known}", app.team)
            continue
        try:
            yield from _fit_problems(name, app, app.team, team, gang=platform is not None and platform.yunikorn.enabled)
        except (ValueError, ArithmeticError) as exc:  # a sparkConf size Spark would refuse anyway
            yield Problem(f"applications.{name}.sparkConf", f"cannot size the pods ({exc})", show_got=False)
