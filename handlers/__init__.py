"""Conversation flows, one module each, free of any messenger library."""
