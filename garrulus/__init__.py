"""Garrulus: an XMPP server whose heart is the message archive (XEP-0313)."""

from garrulus import _compiled

__version__ = "0.1.0"

# Never run a compiled module whose source was edited after the build (setup.py).
_compiled.check()
