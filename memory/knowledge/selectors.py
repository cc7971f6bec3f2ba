"""Hybrid retrieval: pgvector cosine + Postgres full-text, fused by reciprocal rank (RRF).

The bot and its organization are conditions of both inner queries and of the outer one:
another tenant's chunk never leaves the database.
HNSW in pgvector 0.6 filters after the index scan, so for a bot holding a small share of a
large table it could return too few rows; bots with fewer than EXACT_BELOW chunks are
therefore searched exactly (index on bot, then distance sort, ~1 ms), and larger ones
through HNSW with ef_search widened by the bot's share of the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from memory.embeddings import embed_one
from memory.knowledge.models import Document

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    from bots.models import Bot

RRF_K = 60
CANDIDATES = 40
EXACT_BELOW = 2_000
# Full-text ranking costs per matching row, and a common word ("card") matches most of a
# bank's chunks: at most this many matches are ranked. A rare exact term (a product code, a
# name) matches few rows and is always ranked; meaning is the vector side's job.
LEXICAL_CAP = 1_000


@dataclass
class Hit:
    chunk_id: int
    document_id: int
    title: str
    url: str
    anchor: str
    heading: str
    text: str
    question: str
    answer: str
    passage_similarity: float  # cosine similarity of the question to the chunk's text, -1 … 1
    example_similarity: float | None  # ... to the nearest of its example questions, if any
    lexical_rank: int | None  # rank among full-text matches, None if no term matched
    score: float  # fused RRF score

    @property
    def similarity(self) -> float:
        """The closer of the two: the chunk's text, or the nearest of its examples."""
        return max(self.passage_similarity, self.example_similarity or -1.0)


def _bot_chunk_count(bot: Bot) -> int:
    total = Document.objects.filter(bot=bot, ingested_at__isnull=False).aggregate(
        n=Sum("chunks_total")
    )["n"]
    return int(total or 0)


SQL = """
WITH semantic AS (
    SELECT id, distance, example_distance, row_number() OVER (ORDER BY distance) AS rank
    FROM (
        -- A chunk is as near as its text or the nearest of its example questions.
        SELECT id, min(distance) AS distance,
               min(distance) FILTER (WHERE example) AS example_distance
        FROM (
            (SELECT c.id, c.embedding <=> %(vector)s::vector AS distance, false AS example
             FROM knowledge_chunk c
             WHERE c.bot_id = %(bot)s AND c.organization_id = %(org)s
             ORDER BY c.embedding <=> %(vector)s::vector
             LIMIT %(candidates)s)
            UNION ALL
            (SELECT e.chunk_id, e.embedding <=> %(vector)s::vector, true
             FROM knowledge_example e
             WHERE e.bot_id = %(bot)s AND e.organization_id = %(org)s
             ORDER BY e.embedding <=> %(vector)s::vector
             LIMIT %(candidates)s)
        ) candidates
        GROUP BY id
        ORDER BY distance
        LIMIT %(candidates)s
    ) nearest
),
lexical AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank
    FROM (
        SELECT id, ts_rank(search, q) AS score
        FROM (
            SELECT c.id, c.search
            FROM knowledge_chunk c
            WHERE c.bot_id = %(bot)s AND c.organization_id = %(org)s
              AND c.search @@ to_tsquery('simple', %(terms)s)
            LIMIT %(lexical_cap)s
        ) matching,
        to_tsquery('simple', %(terms)s) q
        ORDER BY score DESC
        LIMIT %(candidates)s
    ) matched
)
SELECT c.id, c.document_id, d.title, d.source_url, c.anchor, c.heading, c.text,
       c.question, c.answer,
       1 - (c.embedding <=> %(vector)s::vector) AS passage_similarity,
       1 - s.example_distance AS example_similarity,
       l.rank AS lexical_rank,
       COALESCE(1.0 / (%(rrf)s + s.rank), 0) + COALESCE(1.0 / (%(rrf)s + l.rank), 0) AS score
FROM (SELECT id FROM semantic UNION SELECT id FROM lexical) found
JOIN knowledge_chunk c ON c.id = found.id
JOIN knowledge_document d ON d.id = c.document_id
LEFT JOIN semantic s ON s.id = c.id
LEFT JOIN lexical l ON l.id = c.id
WHERE c.bot_id = %(bot)s AND c.organization_id = %(org)s
ORDER BY score DESC
LIMIT %(limit)s
"""


# The question's lexemes, less those in more than COMMON_SHARE of all chunks (Postgres's own
# statistics on the column, from ANALYZE): a word like "card" in a bank's knowledge base
# carries no signal and would make the full-text side scan most of the table.
COMMON_SHARE = 0.05
LEXEMES_SQL = """
SELECT lexeme FROM unnest(tsvector_to_array(to_tsvector('english', %(text)s))) AS lexeme
WHERE lexeme NOT IN (
    SELECT u.e
    FROM pg_stats s, unnest(s.most_common_elems::text::text[]) WITH ORDINALITY AS u(e, n)
    WHERE s.tablename = 'knowledge_chunk' AND s.attname = 'search'
      AND u.e IS NOT NULL AND s.most_common_elem_freqs[u.n] > %(common)s
)
"""


def _or_terms(cursor: Any, query: str) -> str | None:
    """The question's informative lexemes OR-ed for to_tsquery (plainto_tsquery ANDs them);
    None (NULL: no full-text match) when it has none."""
    cursor.execute(LEXEMES_SQL, {"text": query, "common": COMMON_SHARE})
    lexemes = [row[0] for row in cursor.fetchall() if "'" not in row[0] and "\\" not in row[0]]
    return " | ".join(f"'{lexeme}'" for lexeme in lexemes) or None


def embed_query(query: str) -> npt.NDArray[np.float32]:
    return embed_one(query)


def retrieve_chunks(
    bot: Bot,
    query: str,
    *,
    limit: int = 5,
    vector: npt.NDArray[np.float32] | None = None,
    exact: bool | None = None,
) -> list[Hit]:
    """The bot's best chunks for `query`, best first; only this bot's, only its org's."""
    if vector is None:
        vector = embed_query(query)
    bot_chunks = _bot_chunk_count(bot)
    if bot_chunks == 0:
        return []
    params: dict[str, str | int | None] = {
        "vector": "[" + ",".join(f"{x:.7g}" for x in vector) + "]",
        "bot": bot.pk,
        "org": bot.organization_id,
        "candidates": max(CANDIDATES, limit),
        "rrf": RRF_K,
        "limit": limit,
        "lexical_cap": LEXICAL_CAP,
    }
    use_exact = bot_chunks < EXACT_BELOW if exact is None else exact
    with transaction.atomic(), connection.cursor() as cursor:
        if use_exact:
            cursor.execute("SET LOCAL enable_indexscan = off")
        else:
            # The planner's row estimate: free, and precise enough to size the search.
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'knowledge_chunk'")
            table_rows = max(float(cursor.fetchone()[0]), float(bot_chunks))
            widen = table_rows / max(bot_chunks, 1)
            ef = min(1000, math.ceil(settings.KNOWLEDGE_EF_SEARCH * widen))
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
        params["terms"] = _or_terms(cursor, query)
        cursor.execute(SQL, params)
        rows = cursor.fetchall()
    return [
        Hit(
            chunk_id=row[0],
            document_id=row[1],
            title=row[2],
            url=row[3],
            anchor=row[4],
            heading=row[5],
            text=row[6],
            question=row[7],
            answer=row[8],
            passage_similarity=float(row[9]),
            example_similarity=None if row[10] is None else float(row[10]),
            lexical_rank=row[11],
            score=float(row[12]),
        )
        for row in rows
    ]


def ingestion_progress(bot: Bot) -> tuple[int, int]:
    """(documents settled, documents): settled is ingested or failed, nothing left to do."""
    counts = Document.objects.filter(bot=bot).aggregate(
        total=Count("pk"),
        settled=Count("pk", filter=Q(status__in=[Document.Status.READY, Document.Status.FAILED])),
    )
    return counts["settled"], counts["total"]
