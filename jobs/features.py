"""spark-submit / Databricks spark_python_task entry point for `seg features`.

Submitted as jobs/run_pipeline.py is (README.md, "The three homes"), with `seg features`'s arguments after this file:
    spark-submit <spark options> jobs/features.py --config conf/cluster.yaml [--set k=v ...]
"""

import sys

from seglib.cli import main

if __name__ == "__main__":
    sys.exit(main(["features", *sys.argv[1:]]))
