"""Headless sub-commands of main.py. Never import Qt here."""
