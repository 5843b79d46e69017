"""Rasa SDK action server: thin adapters from the tracker to ``cobranza`` services.

The package's one piece of wiring: every debt action passes the identity gate of
``actions/identity.py``. That module needs the capabilities (to answer, once verified, what the
debtor asked) and they need ``actions/base.py``, so the base does not import the gate; it is
handed over here, and the imports point one way."""

from actions.base import DbAction
from actions.identity import ask_for_identity

DbAction.identity_gate = ask_for_identity
