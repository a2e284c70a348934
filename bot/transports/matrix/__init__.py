"""Matrix, the third messenger: direct chats on any homeserver, end-to-end encrypted.

session.py: the bot's one device and its key store; sync.py: what a /sync batch brings and how
it is kept; render.py: replies as Matrix events; transport.py: receiving, answering, sending.
"""

from bot.transports.matrix.transport import MatrixTransport

__all__ = ["MatrixTransport"]
