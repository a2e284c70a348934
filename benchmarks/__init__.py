"""Reproducible measurements of how fast and how light the bot is: `python -m benchmarks`.

Each benchmark starts its own fake Bot API on 127.0.0.1 and runs the bot under test as a
separate process; nothing leaves the machine. The results go to benchmarks/RESULTS.md. The
benchmarks report; they never fail because something was slow.
"""
