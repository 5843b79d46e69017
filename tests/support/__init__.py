"""What the tests share besides fixtures: the fixed clock, database URLs, running an action,
the raw HTTP attacks, a Redis relay that can be cut, the stub web chat server with its
Socket.IO tab, and the text of WhatsApp answers. conftest.py files hold only fixtures (pytest
finds them by name); a test imports a helper from here, never from another test module, so the
helper has one importable home that mypy checks, and no test module depends on another one's
layout or drags in its fixtures."""
