"""Diagnosis of Spark applications from their event logs, and the local History Server that shows them.

- `eventlog.py`: reading an event log as Spark writes it (single file or rolling, zstd, lz4, snappy or none),
  streamed in bounded memory;
- `log_summary.py`: folding its events into per-stage summaries (`stage_summary.py`: what a stage gathers and its
  summary); `sql_summary.py`: SQL plan metrics per query;
- `diagnosis.py`: runs the checks, and holds the doctor's report and its command (`sparkstack doctor`);
  `failure_checks.py` (OOM, failed jobs and tasks, recomputed stages), `stage_checks.py` (skew, spill, GC,
  partitions), `resource_checks.py` and `sql_checks.py`: the checks; `finding.py`: the finding they all produce;
- `history_server.py`: Spark's own History Server from the pyspark wheel on 127.0.0.1 (`sparkstack history`);
- `sources.py`: logs from a History Server's REST API or object storage; `suggest.py`: `--suggest`;
  `report_html.py`: `--html`; `compare.py`: two runs side by side; `modes.py`: those options on the command line.

Within tools/ it may import: tools.console. Outside: the standard library, the codec packages, orjson and pyspark;
fsspec (with s3fs or gcsfs) only where installed, for s3a:// and gs:// paths.
"""
