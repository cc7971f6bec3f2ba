"""Knowledge base per bot: documents, chunks, embeddings, hybrid retrieval."""
