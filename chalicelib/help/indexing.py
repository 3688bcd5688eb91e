"""The search index: tantivy (BM25) over the published articles, one text field per language and
part, each analysed by its language's chain; bundled with a catalogue into one tar object.

Analysis, at index and query time alike: simple tokenizer → lowercase → the language's stop words →
ASCII folding → the language's Snowball stemmer. Folding comes before stemming so that « impayée »
and « impayee » reach the stemmer as the same word (factures → factur ← facture; bills → bill).

A query is, for each of its terms, an OR of the exact (stemmed) term in the title (×3), tags (×2),
summary (×1.5) and body, and — for terms of 5 characters or more — a fuzzy term (Levenshtein
distance 1, a transposition counting one) in the title and body at a small constant score, so that
« facutre » still finds « facture » but any document with the word itself ranks above one found by
a typo. The terms are OR-ed: a document with more of them scores higher (BM25 sums).

Then, on the top 200 by relevance, a small prior of usefulness (votes) and popularity (views),
computed when the index is built, multiplies the score: between 0.85 and 1.25, so it reorders
answers of similar relevance without overturning relevance.

This module imports tantivy; only the search and the build import it (not `import app`).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import tantivy

from chalicelib.help.language import LANGUAGES

SNOWBALL = {"fr": "french", "en": "english"}
TEXT_PARTS = {"title": 3.0, "tags": 2.0, "summary": 1.5, "body": 1.0}
FUZZY_PARTS = {"title": 1.0, "body": 0.5}
FUZZY_BOOST = 0.2  # a fuzzy match scores a constant 1 × this: below any exact BM25 contribution
FUZZY_MIN_CHARS = 5  # shorter terms: a typo of one letter is another word
MAX_TERMS = 12
TOP_K = 200  # candidates re-ranked (and the deepest a cursor can page to)
CATALOGUE = "catalogue.json"
INDEX_DIR = "index"
WRITER_HEAP = 64_000_000


def tokenizer_name(language: str) -> str:
    return f"help_{language}"


@lru_cache(maxsize=len(LANGUAGES))
def analyzer(language: str) -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword(SNOWBALL[language]))
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer(SNOWBALL[language]))
        .build()
    )


@lru_cache(maxsize=1)
def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("article_id", stored=True, tokenizer_name="raw")
    builder.add_text_field("section_id", tokenizer_name="raw")
    builder.add_text_field("situation", tokenizer_name="raw")
    builder.add_integer_field("ord", fast=True)  # the article's place in the catalogue
    for language in LANGUAGES:
        for part in TEXT_PARTS:
            builder.add_text_field(f"{part}_{language}", tokenizer_name=tokenizer_name(language))
    return builder.build()


def _register(index: tantivy.Index) -> None:
    for language in LANGUAGES:
        index.register_tokenizer(tokenizer_name(language), analyzer(language))


def prior(*, helpful: int, not_helpful: int, views: int, max_views: int) -> float:
    """1 ± 0.15 for usefulness (votes, smoothed towards 50 %: two votes say little), + up to 0.1 for
    popularity (views, on a log scale relative to the most viewed article)."""
    usefulness = (helpful + 1) / (helpful + not_helpful + 2)
    popularity = math.log1p(views) / math.log1p(max_views) if max_views > 0 else 0.0
    return round(1.0 + 0.3 * (usefulness - 0.5) + 0.1 * popularity, 4)


@dataclass(frozen=True)
class PublishedArticle:
    """What the build needs of a published article."""

    article_id: str
    version: int
    section_id: str
    situations: list[str]
    content: dict[str, dict[str, Any]]  # language → title, summary, body, tags
    actions: list[dict[str, Any]]
    published_at: str
    helpful: int = 0
    not_helpful: int = 0
    views: int = 0


def build_bundle(
    articles: list[PublishedArticle], sections: list[dict[str, Any]], *, generation: int, built_at: str
) -> bytes:
    """The tar object: the tantivy directory and the catalogue (what results show, by `ord`)."""
    work = Path(tempfile.mkdtemp(prefix="help-build-"))
    try:
        index_dir = work / INDEX_DIR
        index_dir.mkdir()
        index = tantivy.Index(schema(), path=str(index_dir))
        _register(index)
        max_views = max((a.views for a in articles), default=0)
        catalogue: list[dict[str, Any]] = []
        ordered = sorted(articles, key=lambda a: a.article_id)
        writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
        for ord_, article in enumerate(ordered):
            fields: dict[str, Any] = {
                "article_id": article.article_id,
                "section_id": article.section_id,
                "situation": list(article.situations),
                "ord": ord_,
            }
            for language in LANGUAGES:
                text = article.content[language]
                fields[f"title_{language}"] = text["title"]
                fields[f"tags_{language}"] = " ".join(text.get("tags") or [])
                fields[f"summary_{language}"] = text["summary"]
                fields[f"body_{language}"] = text["body"]
            writer.add_document(tantivy.Document(**fields))
            catalogue.append(
                {
                    "article_id": article.article_id,
                    "version": article.version,
                    "section_id": article.section_id,
                    "situations": list(article.situations),
                    "title": {lang: article.content[lang]["title"] for lang in LANGUAGES},
                    "summary": {lang: article.content[lang]["summary"] for lang in LANGUAGES},
                    "actions": article.actions,
                    "published_at": article.published_at,
                    "prior": prior(
                        helpful=article.helpful,
                        not_helpful=article.not_helpful,
                        views=article.views,
                        max_views=max_views,
                    ),
                }
            )
        writer.commit()
        writer.wait_merging_threads()
        document = {
            "generation": generation,
            "built_at": built_at,
            "sections": sorted(sections, key=lambda s: (s["position"], s["section_id"])),
            "articles": catalogue,
        }
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for path in sorted(index_dir.iterdir()):
                if path.is_file() and not path.name.endswith(".lock"):
                    tar.add(str(path), arcname=f"{INDEX_DIR}/{path.name}")
            data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
            info = tarfile.TarInfo(CATALOGUE)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return out.getvalue()
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class LoadedIndex:
    """An index as a container serves it: the searcher (a snapshot, reused by every search), the
    catalogue, and lookups by section and situation that need no query."""

    generation: int
    directory: Path | None
    catalogue: list[dict[str, Any]]
    sections: list[dict[str, Any]]
    searcher: tantivy.Searcher | None
    by_id: dict[str, int] = field(default_factory=dict)
    by_situation: dict[str, list[int]] = field(default_factory=dict)
    by_section: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ord_, entry in enumerate(self.catalogue):
            self.by_id[entry["article_id"]] = ord_
            self.by_section.setdefault(entry["section_id"], []).append(ord_)
            for situation in entry["situations"]:
                self.by_situation.setdefault(situation, []).append(ord_)
        # Most useful first, then by id (stable).
        for ords in (*self.by_situation.values(), *self.by_section.values()):
            ords.sort(key=lambda o: (-self.catalogue[o]["prior"], self.catalogue[o]["article_id"]))

    def close(self) -> None:
        """Remove the extracted files (the open index keeps its mapped files until it goes)."""
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def empty() -> LoadedIndex:
    """Nothing published yet."""
    return LoadedIndex(generation=0, directory=None, catalogue=[], sections=[], searcher=None)


def open_bundle(data: bytes, *, into: Path) -> LoadedIndex:
    """Extract a bundle into a fresh directory under `into` and open it."""
    into.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="bundle-", dir=str(into)))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        # filter="data": no absolute paths, links or devices, whatever the object holds.
        tar.extractall(str(directory), filter="data")
    document = json.loads((directory / CATALOGUE).read_text())
    index = tantivy.Index.open(str(directory / INDEX_DIR))
    _register(index)
    return LoadedIndex(
        generation=int(document["generation"]),
        directory=directory,
        catalogue=list(document["articles"]),
        sections=list(document["sections"]),
        searcher=index.searcher(),
    )


def query_terms(text: str, language: str) -> list[str]:
    """The distinct analysed terms of a query, in order, at most MAX_TERMS."""
    return list(dict.fromkeys(analyzer(language).analyze(text)))[:MAX_TERMS]


def _query(terms: list[str], language: str) -> tantivy.Query:
    index_schema = schema()
    per_term: list[tuple[tantivy.Occur, tantivy.Query]] = []
    for term in terms:
        alternatives = [
            tantivy.Query.boost_query(
                tantivy.Query.term_query(index_schema, f"{part}_{language}", term), weight
            )
            for part, weight in TEXT_PARTS.items()
        ]
        if len(term) >= FUZZY_MIN_CHARS:
            alternatives += [
                tantivy.Query.boost_query(
                    tantivy.Query.fuzzy_term_query(
                        index_schema, f"{part}_{language}", term, distance=1, transposition_cost_one=True
                    ),
                    FUZZY_BOOST * weight,
                )
                for part, weight in FUZZY_PARTS.items()
            ]
        per_term.append(
            (
                tantivy.Occur.Should,
                tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in alternatives]),
            )
        )
    return tantivy.Query.boolean_query(per_term)


def search(loaded: LoadedIndex, text: str, language: str) -> list[tuple[int, float]]:
    """(ord, score) of the matching articles, best first, at most TOP_K: BM25 (with the typo
    clauses) times the article's prior."""
    terms = query_terms(text, language)
    if not terms or loaded.searcher is None:
        return []
    hits = loaded.searcher.search(_query(terms, language), limit=TOP_K).hits
    if not hits:
        return []
    ords = loaded.searcher.fast_field_values("ord", [address for _, address in hits])
    ranked = [
        (int(ord_), float(score) * float(loaded.catalogue[int(ord_)]["prior"]))
        for (score, _), ord_ in zip(hits, ords, strict=True)
        if ord_ is not None
    ]
    ranked.sort(key=lambda pair: (-pair[1], pair[0]))
    return ranked
