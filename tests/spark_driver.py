"""The Kubernetes API calls a Spark driver makes: what its Role must grant, read from Spark itself."""

# What a Spark 4.0.4 driver calls with default settings, read with `javap -c -p` from spark-kubernetes_2.13-4.0.4.jar
# (org.apache.spark.scheduler.cluster.k8s): a label-filtered delete is one DELETE on the collection.
SPARK_DRIVER_CALLS = {
    ("pods", "create"): "ExecutorPodsAllocator.requestNewExecutors",
    ("pods", "get"): "ExecutorPodsAllocator.driverPod, ExecutorPodsLifecycleManager.removeExecutorFromK8s",
    ("pods", "list"): "ExecutorPodsPollingSnapshotSource",
    ("pods", "watch"): "ExecutorPodsWatchSnapshotSource",
    ("pods", "delete"): "ExecutorPodsAllocator.onNewSnapshots, ExecutorPodsLifecycleManager",
    ("pods", "deletecollection"): "KubernetesClusterSchedulerBackend.stop (executors by app-id label)",
    ("configmaps", "create"): "KubernetesClusterSchedulerBackend.setUpExecutorConfigMap",
    ("configmaps", "deletecollection"): "KubernetesClusterSchedulerBackend.stop",
    ("services", "deletecollection"): "KubernetesClusterSchedulerBackend.stop",
    ("persistentvolumeclaims", "list"): "ExecutorPodsAllocator.getReusablePVCs",
    ("persistentvolumeclaims", "deletecollection"): "KubernetesClusterSchedulerBackend.stop",
}
