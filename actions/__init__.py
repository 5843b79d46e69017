"""Rasa SDK action server: thin adapters from the tracker to ``cobranza`` services."""
