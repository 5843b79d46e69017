"""What the tests share besides fixtures: the fixed clock, database URLs, running an action,
and the raw HTTP attacks. conftest.py files hold only fixtures (pytest finds them by name); a
test imports a helper from here, so the helper has one importable home and mypy checks it."""
