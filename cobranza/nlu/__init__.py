"""Spanish (es-MX) NLU helpers: amounts and dates as debtors write them, and the Rasa
component that normalises the ``monto`` and ``fecha`` entities."""
