"""Connectors to the ad platforms (Google Ads, Meta, LinkedIn) behind one interface (base.py)."""
