"""Newsroom: news syndication for a bilingual health-science ecosystem."""

__version__ = "0.1.0"
