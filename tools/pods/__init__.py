"""The pods a SparkApplication becomes: what operator v2.5.2 submits, what Spark 4.0.4 builds, what the webhook adds.

- `submission.py`: the operator's spark-submit of an application (its `--conf` order from
  `policy/spark_submit_conf.py`), and one run of a schedule;
- `builders.py`: Spark's own KubernetesDriverBuilder/KubernetesExecutorBuilder driven through py4j;
- `webhook.py`: the operator's mutating webhook patch;
- `yunikorn.py`: the operator's YuniKorn integration (queue labels, gang task groups) before submission;
- `pod_security.py`: the Pod Security "restricted" check of a pod.

It works on one application's object at a time and knows nothing of stacks or plans.
Within tools/ it may import: tools.console. Outside: infra (conventions, config, versions), policy, pyspark.
"""
