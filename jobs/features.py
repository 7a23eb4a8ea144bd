"""spark-submit / Databricks spark_python_task entry point for `seg features`.

spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 jobs/features.py --config conf/cluster.yaml [--set k=v ...]
"""

import sys

from seglib.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
