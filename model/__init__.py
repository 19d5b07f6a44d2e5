"""The decoder-only transformer, its config, size accounting and shape rule."""
from model import counting, sharding, shapes
from model.config import ModelConfig
from model.transformer import Transformer

__all__ = ["ModelConfig", "Transformer", "counting", "sharding", "shapes"]
