"""The Spark 3.5 profile's tests (pyspark 3.5 + Delta 3.3 + Spark NLP 5.5 from jars/spark35/pom.xml).

Collected only in that environment: `make test-spark35` builds it (.venv-spark35) and runs these tests with the
network cut off (a fresh network namespace with loopback only), which ``test_the_network_is_cut_off`` checks, so a pass
proves nothing here downloads a model. Under pyspark 4.1 (the main suite) this folder is not collected at all.
"""

from __future__ import annotations

import pyspark

if not pyspark.__version__.startswith("3.5."):
    collect_ignore_glob = ["test_*.py"]
