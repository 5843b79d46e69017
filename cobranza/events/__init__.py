"""The consumer of Rasa's events (``python -m cobranza.events``, docs/kpis.md).

Rasa's pika event broker publishes every event of every conversation to a RabbitMQ queue
(endpoints.cluster.yml). This entry point reads that queue and writes each user and bot
message as one ``conversation_turns`` row, without personal data, for the KPIs: messages
received and the share the NLU did not understand, by channel and day.

* :mod:`cobranza.events.turns`: a message → a turn, or why not (pure);
* :mod:`cobranza.events.store`: the idempotent insert;
* :mod:`cobranza.events.consumer`: RabbitMQ, acks, reconnection, stopping."""
