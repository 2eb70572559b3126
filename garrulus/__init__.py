"""Garrulus: an XMPP server whose heart is the message archive (XEP-0313)."""

__version__ = "0.1.0"
