"""Many simulated debtors at once, each through a whole WhatsApp conversation, against one Rasa
server or a cluster of them: the load of `make bench-cluster` (scripts/bench_cluster.py) and
tests/e2e/test_cluster.py.

* :mod:`.debtors`: who the debtors are and the conversation each has;
* :mod:`.driver`: the load itself (signed webhooks, Meta's redeliveries, each turn waited for)
  and the settings a server needs to talk to the fake Graph API;
* :mod:`.counts`: what is counted, from the load's records alone (missing, duplicated,
  reprocessed, promises lost or duplicated, conversations derailed), and the report;
* :mod:`.checks`: what the assistant's database and the servers' logs say (reply links, Rasa's
  tracker, the promises added, lock errors).

Development tooling, like the rest of ``cobranza.testing``: nothing in the assistant imports it.
"""
