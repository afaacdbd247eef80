"""Results: atomic writers for JSON, text and figures, and Markdown tables."""
from .io import atomic_write_bytes, markdown_table, save_figure, write_json, write_text

__all__ = ["atomic_write_bytes", "markdown_table", "save_figure", "write_json", "write_text"]
