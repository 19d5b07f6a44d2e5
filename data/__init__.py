"""Corpora, tokenizers, `prepare` and the grain input pipeline (see data/pipeline.py)."""
from data.pipeline import Prepared
from data.pipeline import epochs_for
from data.pipeline import load_prepared
from data.pipeline import prepare
from data.pipeline import tokenizer_vocab_size
from data.pipeline import train_iterator
from data.pipeline import validation_batches
