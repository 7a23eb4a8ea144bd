"""The Spark NLP text pipeline (``features.psychographics.engine: sparknlp``), built only from annotators that need
no download: nothing here calls ``pretrained()``.

    DocumentAssembler -> Tokenizer -> Normalizer -> Lemmatizer (lemma dictionary shipped in ``resources/``)
      -> StopWordsCleaner -> YakeKeywordExtraction           (keywords, and the clean lemmas the topic model reads)
      -> SentimentDetector over all lemmas                   (the config's lexicon, with negation and amplifiers)
      -> one TextMatcher per interest over normalised tokens (the config's taxonomy phrases)

The word lists come from the config (``features.psychographics``), written to resource files that the fit reads on
the driver; the fitted PipelineModel holds their contents, so it saves, reloads and logs to MLflow on its own.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.features import PsychographicsConfig

RESOURCES = Path(__file__).resolve().parent / "resources"
# "lemma -> form<TAB>form..." lines: English irregular forms and the inflections of the default lexicon and
# taxonomy words (171 lemmas). Replace it with a full dictionary for open-domain text.
LEMMA_DICTIONARY = RESOURCES / "lemmas_en.txt"
# SentimentDetector tags besides positive/negative: a "revert" word flips its sentence's score, an "increment"
# doubles it (Spark NLP's PragmaticScorer). Normalised tokens have no apostrophes ("don't" -> "dont").
REVERT_WORDS = ("not", "no", "dont", "doesnt", "didnt", "isnt", "wasnt", "cant", "cannot", "wont")
INCREMENT_WORDS = ("very", "extremely", "so", "super")
KEYWORDS_PER_TEXT = 10


def matcher_column(interest: str) -> str:
    return f"_match_{interest}"


def lemma_map(path: Path = LEMMA_DICTIONARY) -> dict[str, str]:
    """form -> lemma, as the Lemmatizer reads the dictionary (lemmas map to themselves)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        lemma, _, forms = line.partition(" -> ")
        out[lemma] = lemma
        out.update(dict.fromkeys(forms.split("\t"), lemma))
    return out


def sentiment_entries(cfg: PsychographicsConfig, lemmas: dict[str, str]) -> dict[str, str]:
    """word -> tag for SentimentDetector: every lexicon word and its lemma (the detector sees lemmas), negations and
    amplifiers; a lemma the two polarities share is left out rather than guessed."""
    polar: dict[str, set[str]] = {}
    for tag, words in (("positive", cfg.sentiment_lexicon.positive), ("negative", cfg.sentiment_lexicon.negative)):
        for word in words:
            for form in {word.lower(), lemmas.get(word.lower(), word.lower())}:
                polar.setdefault(form, set()).add(tag)
    out = {word: tags.pop() for word, tags in polar.items() if len(tags) == 1}
    out |= {w: "revert" for w in REVERT_WORDS if w not in out}
    out |= {w: "increment" for w in INCREMENT_WORDS if w not in out}
    return out


def _write_lines(path: Path, lines: Iterable[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def nlp_pipeline(cfg: PsychographicsConfig, stop_words: list[str], folder: Path) -> Pipeline:
    """The unfitted pipeline; its word-list resources are written under ``folder`` (read once, by ``fit``)."""
    from sparknlp.annotator import (
        Lemmatizer,
        Normalizer,
        SentimentDetector,
        StopWordsCleaner,
        TextMatcher,
        Tokenizer,
        YakeKeywordExtraction,
    )
    from sparknlp.base import DocumentAssembler

    sentiment = sentiment_entries(cfg, lemma_map())
    sentiment_file = _write_lines(folder / "sentiment.txt", (f"{w},{tag}" for w, tag in sorted(sentiment.items())))
    stages = [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        Normalizer()
        .setInputCols(["token"])
        .setOutputCol("normalized")
        .setLowercase(True)
        .setCleanupPatterns(["[^\\p{L}\\p{N}]"])
        .setMinLength(cfg.min_token_length),
        Lemmatizer()
        .setInputCols(["normalized"])
        .setOutputCol("lemma")
        .setDictionary(str(LEMMA_DICTIONARY), "->", "\t"),
        StopWordsCleaner().setInputCols(["lemma"]).setOutputCol("clean").setStopWords(stop_words),
        YakeKeywordExtraction()
        .setInputCols(["clean"])
        .setOutputCol("keywords")
        .setMinNGrams(1)
        .setMaxNGrams(2)
        .setNKeywords(KEYWORDS_PER_TEXT)
        .setStopWords(stop_words),
        SentimentDetector()
        .setInputCols(["lemma", "document"])
        .setOutputCol("sentiment")
        .setDictionary(sentiment_file, ",")
        .setEnableScore(True),
    ]
    for name, phrases in cfg.interests.items():
        entities = _write_lines(folder / f"interest_{name}.txt", sorted({p.lower().strip() for p in phrases}))
        stages.append(
            TextMatcher()
            .setInputCols(["document", "normalized"])
            .setOutputCol(matcher_column(name))
            .setEntities(entities)
            .setEntityValue(name)
            .setCaseSensitive(False)
            .setBuildFromTokens(True)
        )
    return Pipeline(stages=stages)


def fit_nlp_pipeline(texts: DataFrame, cfg: PsychographicsConfig, stop_words: list[str]) -> PipelineModel:
    """Fit on ``texts`` (the annotators learn nothing from the rows: the fit reads the word lists)."""
    with tempfile.TemporaryDirectory(prefix="seglib-nlp-") as folder:
        return nlp_pipeline(cfg, stop_words, Path(folder)).fit(texts)


def load_text_model(path: str) -> PipelineModel:
    """A saved text pipeline (e.g. the MLflow artifact's ``sparkml`` folder).

    PySpark finds each saved stage's Python wrapper by importing its JVM package name; ``import sparknlp`` registers
    those names, except (5.5.3) YAKE's, which is added here.
    """
    import sparknlp.annotator

    for name in ("com.johnsnowlabs.nlp.annotators.keyword", "com.johnsnowlabs.nlp.annotators.keyword.yake"):
        sys.modules.setdefault(name, sparknlp.annotator)
    return PipelineModel.load(path)


def annotate(model: PipelineModel, texts: DataFrame, cfg: PsychographicsConfig) -> DataFrame:
    """Per text: subject_id, text_id, _clean (lemmas without stop words), _keywords (keyword, YAKE score: lower is
    more relevant), _sentiment (the detector's score; > 0 positive, < 0 negative, 0 neutral) and one
    ``_n_<interest>`` count of matched taxonomy phrases."""
    out = model.transform(texts)
    counts = {f"_n_{name}": F.size(F.col(f"{matcher_column(name)}.result")) for name in cfg.interests}
    return out.select(
        "subject_id",
        "text_id",
        F.col("clean.result").alias("_clean"),
        F.transform(
            "keywords",
            lambda k: F.struct(k["result"].alias("keyword"), k["metadata"]["score"].cast("double").alias("score")),
        ).alias("_keywords"),
        F.coalesce(F.col("sentiment.result")[0].cast("double"), F.lit(0.0)).alias("_sentiment"),
        *[c.alias(n) for n, c in counts.items()],
    )
