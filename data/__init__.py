"""Corpora, tokenizers, `prepare` and the grain input pipeline.

Public API: `data.pipeline` (prepare, Prepared, train_iterator, validation_batches, epochs_for,
tokenizer_vocab_size). The package imports nothing itself, so that encoding worker processes
start without loading grain and jax.
"""
