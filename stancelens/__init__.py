"""StanceLens: sentence-level stance and loaded-language analysis of Taliban/NRF news."""

__version__ = "0.1.0"
