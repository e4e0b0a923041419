"""Rows to text and pictures for people: tables, plots, the report, the web dashboard."""
