"""The gateway's pure half (cobranza/channels/whatsapp/gateway.py): a delivery split into one
complete webhook payload per sender, the ids that de-duplicate it, and the route key."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest

from cobranza.channels.whatsapp.gateway import (
    ROUTE_HEADER,
    delivery_keys,
    route_key,
    split_by_sender,
)
from cobranza.channels.whatsapp.parse import parse_webhook
from cobranza.simulation.fake_graph import (
    media_message,
    status_update,
    text_message,
    webhook_payload,
)

ANA, BETO = "5215511111111", "5215522222222"
SECRET = "secreto"


def value(part: dict[str, Any], entry: int = 0, change: int = 0) -> dict[str, Any]:
    return part["entry"][entry]["changes"][change]["value"]


def test_one_sender_is_one_part_equal_to_the_delivery() -> None:
    payload = webhook_payload(text_message(ANA, "hola", "wamid.1"))
    [part] = split_by_sender(payload)
    assert part.sender == ANA
    assert part.payload == payload
    assert part.keys == ("wamid.1",)


def test_each_part_keeps_the_envelope_and_only_its_senders_items() -> None:
    one = text_message(ANA, "hola", "wamid.a")
    two = text_message(BETO, "buenas", "wamid.b")
    shared = {
        "contacts": one["contacts"] + two["contacts"],
        "messages": one["messages"] + two["messages"],
    }
    payload = webhook_payload([shared, status_update(ANA, "wamid.out", "read")])
    original = copy.deepcopy(payload)
    parts = {p.sender: p for p in split_by_sender(payload)}
    assert payload == original  # the delivery is not changed
    assert set(parts) == {ANA, BETO}
    ana, beto = parts[ANA].payload, parts[BETO].payload
    for part in (ana, beto):
        assert part["object"] == "whatsapp_business_account"
        assert part["entry"][0]["id"] == payload["entry"][0]["id"]
        assert part["entry"][0]["changes"][0]["field"] == "messages"
        assert value(part)["messaging_product"] == "whatsapp"
        assert value(part)["metadata"] == value(payload)["metadata"]
    assert [c["wa_id"] for c in value(ana)["contacts"]] == [ANA]
    assert [m["id"] for m in value(ana)["messages"]] == ["wamid.a"]
    assert value(ana, entry=1)["statuses"][0]["recipient_id"] == ANA
    assert len(beto["entry"]) == 1 and [m["id"] for m in value(beto)["messages"]] == ["wamid.b"]
    assert parts[ANA].keys == ("wamid.a", "wamid.out:read")
    assert parse_webhook(ana) and parse_webhook(beto)  # each part is a valid delivery


def test_seen_items_are_left_out_and_an_empty_part_disappears() -> None:
    payload = webhook_payload(
        [text_message(ANA, "hola", "wamid.a"), media_message(BETO, "image", "wamid.b")]
    )
    assert delivery_keys(payload) == ["wamid.a", "wamid.b"]
    [part] = split_by_sender(payload, skip={"wamid.a"})
    assert part.sender == BETO and part.keys == ("wamid.b",)
    assert split_by_sender(payload, skip={"wamid.a", "wamid.b"}) == []


def test_an_id_repeated_in_one_delivery_is_forwarded_once() -> None:
    payload = webhook_payload(
        [text_message(ANA, "hola", "wamid.a"), text_message(ANA, "hola", "wamid.a")]
    )
    [part] = split_by_sender(payload)
    assert part.keys == ("wamid.a",)
    assert sum(len(e["changes"][0]["value"]["messages"]) for e in part.payload["entry"]) == 1


def test_changes_without_a_sender_are_not_forwarded() -> None:
    payload = webhook_payload(text_message(ANA, "hola", "wamid.a"))
    payload["entry"].append(
        {"id": "1", "changes": [{"field": "account_update", "value": {"event": "x"}}]}
    )
    [part] = split_by_sender(payload)
    assert len(part.payload["entry"]) == 1


def test_the_route_key_is_a_keyed_hash_of_the_sender() -> None:
    key = route_key(ANA, SECRET)
    assert key == hmac.new(SECRET.encode(), ANA.encode(), hashlib.sha256).hexdigest()
    assert ANA not in key and len(key) == 64
    assert route_key(ANA, "otro") != key and route_key(BETO, SECRET) != key
    assert ROUTE_HEADER == "X-Cobranza-Route"


@pytest.mark.parametrize("bad", [None, [], {"object": "whatsapp_business_account", "entry": 3}])
def test_a_foreign_shape_is_a_value_error(bad: Any) -> None:
    with pytest.raises(ValueError):
        split_by_sender(bad)
