"""seglib: distributed audience segmentation on Apache Spark, Delta Lake and MLflow.

Importing seglib never creates a SparkSession and does no I/O.
"""

__version__ = "0.1.0"
