"""A personal CRM kept as Markdown files with YAML front matter in a git repository.

Pipeline: files -> parse (keeping line numbers) -> model -> validate -> stats -> render -> output.
"""

__version__ = "0.1.0"
