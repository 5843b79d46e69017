"""Rasa SDK action server: thin adapters from the tracker to ``cobranza`` services.

The package's one piece of wiring: every debt action passes the identity gate of
``actions/identity.py``, an answer to a question of ours is taken as one whatever the intent
(``actions/answers.py``), and the debt topics answer a message's other request through
``actions/capabilities.py``. They all need the capabilities (to answer what the debtor asked) and
the capabilities need ``actions/base.py``, so the base imports neither; they are handed over
here, and the imports point one way."""

from actions.answers import answer_to_our_question
from actions.base import DbAction
from actions.capabilities import answer_requests
from actions.identity import ask_for_identity

DbAction.identity_gate = ask_for_identity
DbAction.answer_to_our_question = answer_to_our_question
DbAction.second_pass = answer_requests
