"""Propensity to pay (docs/scoring.md): features as of a date from our own tables, a calibrated
gradient-boosting model validated out of time against a simple baseline, scores with their
reasons per debtor, and segments. Scores order work (campaign sends when the daily budget binds,
the agents' queue); they never change what the compliance engine allows, and a debtor never
sees theirs."""
