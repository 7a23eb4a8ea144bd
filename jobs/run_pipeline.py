"""spark-submit / Databricks spark_python_task entry point for the whole pipeline (`seg run`).

    spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 jobs/run_pipeline.py \
        --config conf/cluster.yaml --set warehouse.path=hdfs:///seglib/wh --as-of 2026-11-01
"""

import sys

from seglib.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
