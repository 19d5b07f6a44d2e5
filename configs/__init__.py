"""Run and sweep configurations as code: each file defines `get_config(arg) -> ConfigDict`."""
from configs.parse import parse_arg

__all__ = ["parse_arg"]
