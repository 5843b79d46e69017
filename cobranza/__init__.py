"""Domain package of the cobranza assistant: data model, personas, offers and services.

Nothing here imports Rasa (except ``cobranza.channels`` and ``cobranza.nlu``), and nothing does
work at import time.
"""

__version__ = "0.1.0"
