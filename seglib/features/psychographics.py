"""Psychographics from silver texts: interest affinities (taxonomy in conf/interests.yaml), lexicon sentiment,
keywords and (optionally) LDA topics, per subject.

Two engines, chosen by ``features.psychographics.engine`` (auto = Spark NLP when its JVM classes load) once per run,
logged, stored as a feature-table property and an MLflow tag:
- ``sparknlp``: the annotator pipeline of :mod:`seglib.features.nlp` (lemmas, SentimentDetector with negation,
  TextMatcher per interest, YAKE keywords), fitted once per run and returned with the feature set to be logged.
- ``builtin``: Spark ML's RegexTokenizer -> StopWordsRemover -> NGram, then one explode plus one broadcast join against
  a dictionary built from the same config word lists, and one grouped pass with conditional aggregation.
Pretrained models are never used.
"""

from __future__ import annotations

import importlib.util
import logging
from datetime import date

from py4j.java_gateway import JavaClass
from pyspark.ml import PipelineModel
from pyspark.ml.feature import NGram, RegexTokenizer, StopWordsRemover
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from seglib.config.features import PsychographicsConfig
from seglib.errors import SeglibError
from seglib.features._time import before_cutoff

log = logging.getLogger(__name__)

TOKEN_PATTERN = r"[^\p{L}\p{N}]+"
TOP_KEYWORDS = 5
ENGINES = ("builtin", "sparknlp")
SPARKNLP_PROBE_CLASS = "com.johnsnowlabs.nlp.DocumentAssembler"
DICTIONARY_SCHEMA = StructType(
    [
        StructField("term", StringType(), False),
        StructField("interest", StringType(), True),
        StructField("polarity", IntegerType(), True),
    ]
)


def interest_columns(cfg: PsychographicsConfig) -> list[str]:
    return [f"interest_{name}" for name in cfg.interests]


def stop_words(cfg: PsychographicsConfig) -> list[str]:
    return sorted(set(StopWordsRemover.loadDefaultStopWords("english")) | {w.lower() for w in cfg.extra_stop_words})


class TextEngineUnavailableError(SeglibError):
    """``features.psychographics.engine: sparknlp`` was asked for, but Spark NLP cannot run in this session."""


def jvm_class_loads(spark: SparkSession, class_name: str) -> bool:
    """Whether ``class_name`` is on the driver JVM's classpath; False on Spark Connect (no JVM to ask).

    Py4J resolves a dotted name to a JavaClass when the class loads and to a JavaPackage when it does not, so
    nothing is raised or swallowed. (There is no DataFrame API for this; the JVM gateway is the only way.)
    """
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return False
    target = spark.sparkContext._jvm
    for part in class_name.split("."):
        target = getattr(target, part)
    return isinstance(target, JavaClass)


def sparknlp_loads(spark: SparkSession) -> bool:
    """Spark NLP can run: its Python package is installed and its JVM classes are on the classpath."""
    return importlib.util.find_spec("sparknlp") is not None and jvm_class_loads(spark, SPARKNLP_PROBE_CLASS)


def resolve_engine(spark: SparkSession, cfg: PsychographicsConfig) -> str:
    """The text engine this run uses (``builtin`` | ``sparknlp``), logged; ``sparknlp`` asked for but not
    loadable is an error, never a silent switch."""
    if cfg.engine == "builtin":
        engine = "builtin"
    elif sparknlp_loads(spark):
        engine = "sparknlp"
    elif cfg.engine == "sparknlp":
        raise TextEngineUnavailableError(
            "features.psychographics.engine is 'sparknlp' but Spark NLP's JVM classes are not on the classpath "
            "(Spark 3.5: com.johnsnowlabs.nlp:spark-nlp_2.12:5.5.3, see the README's compatibility table; or set the "
            "engine to auto/builtin)"
        )
    else:
        engine = "builtin"
    log.info("psychographics: text engine %s (features.psychographics.engine: %s)", engine, cfg.engine)
    return engine


def terms_builtin(texts: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """RegexTokenizer (lower-case) -> StopWordsRemover -> bigrams; terms = all tokens + clean bigrams."""
    tokens = RegexTokenizer(
        inputCol="text", outputCol="_tokens", pattern=TOKEN_PATTERN, gaps=True, toLowercase=True
    ).setMinTokenLength(cfg.min_token_length)
    cleaner = StopWordsRemover(inputCol="_tokens", outputCol="_clean", stopWords=stop_words(cfg))
    bigrams = NGram(n=2, inputCol="_clean", outputCol="_bigrams")
    out = bigrams.transform(cleaner.transform(tokens.transform(texts)))
    return out.select("subject_id", "text_id", "_clean", F.concat("_tokens", "_bigrams").alias("_terms"))


def dictionary_frame(texts: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """Config word lists as a tiny (term, interest, polarity) DataFrame for a broadcast join."""
    rows: list[tuple[str, str | None, int | None]] = [
        (w.lower().strip(), name, None) for name, ws in cfg.interests.items() for w in ws
    ]
    rows += [(w.lower(), None, 1) for w in cfg.sentiment_lexicon.positive]
    rows += [(w.lower(), None, -1) for w in cfg.sentiment_lexicon.negative]
    return texts.sparkSession.createDataFrame(rows, DICTIONARY_SCHEMA)


def _count(cond: Column) -> Column:
    return F.sum(F.when(cond, 1).otherwise(0))


def _with_shares(out: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """``_int_<name>``, ``_int_total``, ``_pos``, ``_neg`` counts -> interest shares (zeros when no interest matched)
    and (pos - neg) / (pos + neg) sentiment (0 when neither); the helper columns are dropped."""
    shares = {
        f"interest_{name}": F.when(F.col("_int_total") > 0, F.col(f"_int_{name}") / F.col("_int_total")).otherwise(
            F.lit(0.0)
        )
        for name in cfg.interests
    }
    polar = F.col("_pos") + F.col("_neg")
    shares["sentiment_score"] = F.when(polar > 0, (F.col("_pos") - F.col("_neg")) / polar).otherwise(F.lit(0.0))
    out = out.withColumns(shares)
    return out.drop(*[c for c in out.columns if c.startswith("_")])


def top_keywords(keywords: DataFrame) -> DataFrame:
    """(subject_id, text_id, keyword, score: lower is more relevant) rows -> subject_id, top_keywords: the
    ``TOP_KEYWORDS`` keywords found in most of the subject's texts, then by best score, then alphabetical."""
    per_keyword = keywords.groupBy("subject_id", "keyword").agg(
        F.count_distinct("text_id").alias("_texts"), F.min("score").alias("_score")
    )
    ranked = per_keyword.groupBy("subject_id").agg(
        F.sort_array(F.collect_list(F.struct((-F.col("_texts")).alias("r"), "_score", "keyword"))).alias("_ranked")
    )
    return ranked.select("subject_id", F.slice(F.col("_ranked.keyword"), 1, TOP_KEYWORDS).alias("top_keywords"))


def builtin_keywords(terms: DataFrame) -> DataFrame:
    """Built-in engine's keywords: each text's clean words and bigrams, scored by minus their count in the text."""
    bigrams = F.filter("_terms", lambda t: F.instr(t, " ") > 0)
    words = terms.select("subject_id", "text_id", F.explode(F.concat("_clean", bigrams)).alias("keyword"))
    return words.groupBy("subject_id", "text_id", "keyword").agg((-F.count("*")).cast("double").alias("score"))


def score_terms(terms: DataFrame, dictionary: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """Built-in engine: interest shares among matched interest terms, (pos-neg)/(pos+neg) word sentiment."""
    matched = terms.select("subject_id", "text_id", F.explode_outer("_terms").alias("term")).join(
        F.broadcast(dictionary), "term", "left"
    )
    interest = F.col("interest")
    aggs = [F.count_distinct("text_id").cast("long").alias("text_count")]
    aggs += [_count(interest == name).alias(f"_int_{name}") for name in cfg.interests]
    aggs += [
        _count(interest.isNotNull()).alias("_int_total"),
        _count(F.col("polarity") == 1).alias("_pos"),
        _count(F.col("polarity") == -1).alias("_neg"),
    ]
    return _with_shares(matched.groupBy("subject_id").agg(*aggs), cfg)


def score_annotations(annotated: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """Spark NLP engine (``nlp.annotate`` rows): interest shares among TextMatcher matches; sentiment over texts,
    (positive texts - negative texts) / (positive + negative texts) by the sign of SentimentDetector's score."""
    aggs = [F.count_distinct("text_id").cast("long").alias("text_count")]
    aggs += [F.sum(f"_n_{name}").alias(f"_int_{name}") for name in cfg.interests]
    aggs += [
        F.sum(sum((F.col(f"_n_{name}") for name in cfg.interests), F.lit(0))).alias("_int_total"),
        _count(F.col("_sentiment") > 0).alias("_pos"),
        _count(F.col("_sentiment") < 0).alias("_neg"),
    ]
    return _with_shares(annotated.groupBy("subject_id").agg(*aggs), cfg)


def fit_text_model(texts: DataFrame, cfg: PsychographicsConfig) -> PipelineModel:
    """The Spark NLP pipeline fitted from the config's word lists (see :mod:`seglib.features.nlp`)."""
    from seglib.features.nlp import fit_nlp_pipeline

    return fit_nlp_pipeline(texts, cfg, stop_words(cfg))


def topic_mixture(terms: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """Seeded MLlib LDA over clean tokens; per subject the mean topic distribution of its texts."""
    from pyspark.ml.clustering import LDA
    from pyspark.ml.feature import CountVectorizer
    from pyspark.ml.functions import vector_to_array

    counts = CountVectorizer(inputCol="_clean", outputCol="_tf", vocabSize=cfg.lda.vocab_size).fit(terms)
    tf = counts.transform(terms)
    lda = LDA(k=cfg.lda.k, maxIter=cfg.lda.max_iter, seed=cfg.lda.seed, featuresCol="_tf")
    mix = lda.fit(tf).transform(tf).withColumn("_topics", vector_to_array(F.col("topicDistribution")))
    return mix.groupBy("subject_id").agg(*[F.avg(F.col("_topics")[i]).alias(f"topic_{i}") for i in range(cfg.lda.k)])


def texts_before(texts: DataFrame, as_of: date) -> DataFrame:
    """The texts a snapshot reads: written strictly before its cut-off, with a subject and a body."""
    return texts.where(
        before_cutoff(F.col("created_at"), as_of) & F.col("subject_id").isNotNull() & F.col("text").isNotNull()
    )


def psychographic_features(
    texts: DataFrame, cfg: PsychographicsConfig, as_of: date, engine: str, text_model: PipelineModel | None = None
) -> DataFrame:
    """Silver texts before the cut-off -> subject_id, text_count, interest_<name>..., sentiment_score,
    top_keywords[, topic_i].

    ``engine`` is ``builtin`` or ``sparknlp``, as chosen once per run by :func:`resolve_engine`; ``sparknlp`` needs
    the ``text_model`` that :func:`fit_text_model` fitted.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown text engine {engine!r}; expected one of {ENGINES}")
    kept = texts_before(texts, as_of)
    if engine == "sparknlp":
        if text_model is None:
            raise ValueError("the sparknlp text engine needs the fitted text_model (fit_text_model)")
        from seglib.features.nlp import annotate

        # Annotated once: interests, sentiment, keywords and the topic model all read the same rows.
        terms = annotate(text_model, kept, cfg).persist()
        out = score_annotations(terms, cfg)
        keywords = terms.select("subject_id", "text_id", F.inline("_keywords"))
    else:
        terms = terms_builtin(kept, cfg)
        out = score_terms(terms, dictionary_frame(kept, cfg), cfg)
        keywords = builtin_keywords(terms)
    out = out.join(top_keywords(keywords), "subject_id", "left").withColumn(
        "top_keywords", F.coalesce("top_keywords", F.array().cast("array<string>"))
    )
    if cfg.lda.enabled:
        if terms.isEmpty():  # LDA cannot fit without documents; the topic columns stay in the schema, null
            log.warning("psychographics: no texts before %s, so no LDA topic model is fitted", as_of)
            return out.withColumns({f"topic_{i}": F.lit(None).cast("double") for i in range(cfg.lda.k)})
        out = out.join(topic_mixture(terms, cfg), "subject_id", "left")
    return out
