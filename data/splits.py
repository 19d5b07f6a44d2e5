"""The document-level train/validation split: a seeded hash of each document's key.

A document goes to validation when a 64-bit hash of (seed, key) falls below `val_fraction` of the
hash range. The decision depends only on the document, not on the order or the number of the
others, so it streams, and adding documents to a corpus never moves existing ones.
"""
import hashlib


def is_validation(key: str, seed: int, val_fraction: float) -> bool:
  """Whether the document named `key` belongs to the validation split for `seed`."""
  digest = hashlib.blake2b(f"{seed}\0{key}".encode("utf-8"), digest_size=8).digest()
  return int.from_bytes(digest, "little") < val_fraction * 2.0**64
