"""Token embeddings backed by an SQLite cache of precomputed rows."""
import sqlite3

from torch import nn


class CachedEmbedding(nn.Module):
    def __init__(self, vocab: int, dim: int, cache_path: str = ":memory:") -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.cache_path = cache_path
        self.db = sqlite3.connect(cache_path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS rows (token INTEGER PRIMARY KEY, value TEXT)")

    def remember(self, token: int) -> None:
        row = ",".join(f"{v:.6g}" for v in self.embed.weight[token].tolist())
        self.db.execute("INSERT OR REPLACE INTO rows VALUES (?, ?)", (token, row))

    def forward(self, tokens):
        return self.embed(tokens)
