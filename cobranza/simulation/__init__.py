"""The simulator (``cobranza simulate``) and the fake Graph API it sends to (docs/simulation.md)."""
