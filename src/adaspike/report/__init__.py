"""Results: atomic writers for JSON, text and figures, and Markdown tables."""
from .io import atomic_path, atomic_write, atomic_write_bytes, markdown_table, save_figure, write_json, write_text

__all__ = ["atomic_path", "atomic_write", "atomic_write_bytes", "markdown_table", "save_figure", "write_json", "write_text"]
