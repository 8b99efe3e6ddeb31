"""The versions the stack is built and tested for, pinned once: the config's defaults, the chart, the offline plan.

Changing one is a deliberate upgrade: the Spark Operator's CRDs and webhook, Spark's pod builders and the policy
pack's rules were all checked against these exact versions.
"""

SPARK_VERSION = "4.0.4"
# The apache/spark image with Python: the Spark version, then the image's own variant suffix.
SPARK_IMAGE = f"apache/spark:{SPARK_VERSION}-python3"
# The Kubeflow Spark Operator's Helm chart version (its app version is the same).
OPERATOR_VERSION = "2.5.2"
OPERATOR_REPOSITORY = "https://kubeflow.github.io/spark-operator"
# Apache YuniKorn's Helm chart (the batch scheduler for teams' queues); off unless platform.yunikorn.enabled.
YUNIKORN_VERSION = "1.8.0"
YUNIKORN_REPOSITORY = "https://apache.github.io/yunikorn-release"
# Where application images (sparkstack:images) fetch their jars at build time, verified by their sha256.
# S3A for the stock images and the s3a:// test: must match the Hadoop client in Spark 4.0.4 (pyspark's jars).
HADOOP_AWS = "org.apache.hadoop:hadoop-aws:3.4.1"
MAVEN_REPOSITORY = "https://repo1.maven.org/maven2"
