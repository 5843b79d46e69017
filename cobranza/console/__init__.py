"""The agents' console (web app + JSON API): see :mod:`cobranza.console.server`."""
