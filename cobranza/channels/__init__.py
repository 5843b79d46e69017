"""Rasa input/output channels of the assistant (the only part of ``cobranza`` besides
``cobranza.nlu`` that imports Rasa)."""
