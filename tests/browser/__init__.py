"""The real-browser suite. A package so that its conftest.py is imported as
browser.conftest and never shadows tests/conftest.py (which other tests import)."""
