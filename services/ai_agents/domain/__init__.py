"""The rules of the AI agents, free of frameworks: budget optimisation, tools-only content, hashing embeddings, task lifecycle."""
