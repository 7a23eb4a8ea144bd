"""spark-submit / Databricks spark_python_task entry point for the whole pipeline (`seg run`).

The command line is README.md's spark-submit example ("The three homes"; tests/e2e/conftest.py runs it as written).
The arguments after this file are `seg run`'s (--config, --set k=v, --as-of, --generate, ...).
"""

import sys

from seglib.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
