"""spark-submit / Databricks spark_python_task entry point for `seg forget`.

Submitted as jobs/run_pipeline.py is (README.md, "The three homes"), with `seg forget`'s arguments after this file:
    spark-submit <spark options> jobs/forget.py --config conf/cluster.yaml [--set k=v ...]
"""

import sys

from seglib.cli import main

if __name__ == "__main__":
    sys.exit(main(["forget", *sys.argv[1:]]))
