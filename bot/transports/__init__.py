"""Messengers: each turns its own updates into Incoming and renders Replies back."""
