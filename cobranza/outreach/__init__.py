"""Outreach: the messages we write first (docs/outreach.md).

Campaigns and templates are designers' files (``campaigns/*.yml``, ``templates/*.yml``), read
and checked by pure modules; the planner turns due campaign steps into ``outreach_messages``
rows; the dispatcher sends them through the WhatsApp Graph API, at most once each, after the
compliance engine allows them at send time."""
