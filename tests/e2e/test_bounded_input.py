"""Bounded input against the real servers (scripts/run.sh, credentials.whatsapp.yml: REST, web
chat and WhatsApp, with the fake Graph API standing in for Meta): a 100 KB message on REST, on
Rasa's ``/model/parse`` (with the API token), on the web chat and on WhatsApp gets the polite
"too long" answer from domain.yml quickly, reads nothing out of it, and the server stays up;
the tracker keeps at most one character over the limit from the channels; a flood over the rate
limit (5 a minute here) reaches Rasa 5 times and gets one polite notice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cobranza.config import PROJECT_ROOT
from cobranza.domain.text import MAX_MESSAGE_CHARS
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    signed_request,
    text_message,
    webhook_payload,
)
from cobranza.testing.servers import Servers, running_servers
from tests.support.webchat import Chat, flood

pytestmark = pytest.mark.slow

BIG = 100_000
PER_MINUTE = 5
TOKEN, PHONE_ID, SECRET, VERIFY = "EAAG-limites", "109876543210987", "app-secret", "verifica"
RESPONSES = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
TOO_LONG = RESPONSES["utter_mensaje_muy_largo"][0]["text"]
NOTICE = RESPONSES["utter_demasiados_mensajes"][0]["text"]


def big_promise(size: int = BIG) -> str:
    """A long text full of things the assistant must not read: a promise, an opt-out."""
    unit = "te pago 500 el viernes 27 de noviembre, ya no me escriban, mi número es 5512345678. "
    return (unit * (size // len(unit) + 1))[:size]


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(TOKEN, PHONE_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def servers(
    model: Path, database_url: str, graph: FakeGraphAPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    # Every way in at once: the production channels plus the development REST channel.
    credentials = tmp_path_factory.mktemp("credentials") / "credentials.yml"
    credentials.write_text(
        (PROJECT_ROOT / "credentials.whatsapp.yml").read_text(encoding="utf-8")
        + "cobranza.channels.rest.LocalRestInput:\n",
        encoding="utf-8",
    )
    env = {
        "RASA_CREDENTIALS": str(credentials),
        "WHATSAPP_VERIFY_TOKEN": VERIFY,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "WHATSAPP_API_URL": graph.base_url,
        "COBRANZA_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE),
    }
    with running_servers(database_url, model, extra_env=env) as running:
        yield running


def api(servers: Servers, path: str) -> str:
    return f"http://127.0.0.1:{servers.rasa_port}{path}"


def user_events(servers: Servers, sender: str) -> list[dict[str, Any]]:
    reply = requests.get(
        api(servers, f"/conversations/{sender}/tracker"),
        params={"token": servers.api_token},
        timeout=30,
    )
    reply.raise_for_status()
    return [e for e in reply.json()["events"] if e["event"] == "user"]


def read_nothing(parsed: dict[str, Any]) -> None:
    """What the NLU made of a too-long message: that intent, no entity, a cut text."""
    assert parsed["intent"] == {"name": "mensaje_muy_largo", "confidence": 1.0}
    assert parsed["entities"] == []
    assert len(parsed["text"]) <= MAX_MESSAGE_CHARS


def still_up(servers: Servers) -> None:
    assert servers.process.poll() is None
    assert servers.say(f"sigo-{time.monotonic_ns()}", "hola", timeout=30)


# --- REST and /model/parse --------------------------------------------------------------------


def test_a_100kb_message_on_rest_gets_the_polite_answer_quickly(servers: Servers) -> None:
    sender = "5213311110001"
    started = time.monotonic()
    replies = servers.say(sender, big_promise(), timeout=60)
    elapsed = time.monotonic() - started
    assert [r.get("text") for r in replies] == [TOO_LONG]
    assert elapsed < 15, elapsed
    [event] = user_events(servers, f"rest:{sender}")
    read_nothing(event["parse_data"])
    assert len(event["text"]) == MAX_MESSAGE_CHARS + 1, "the tracker keeps a bounded text"
    still_up(servers)


def test_a_flood_on_rest_gets_one_notice(servers: Servers) -> None:
    sender = "inundacion"
    answers = [servers.say(sender, f"hola {n}") for n in range(25)]
    notices = [a for a in answers if any("muchos mensajes" in str(r.get("text")) for r in a)]
    assert len(notices) == 1 and answers[-1] == [], "one notice, then nothing reaches Rasa"
    assert len(user_events(servers, f"rest:{sender}")) == PER_MINUTE


def test_concurrent_100kb_messages_on_rest(servers: Servers) -> None:
    def one(n: int) -> list[dict[str, Any]]:
        return servers.say(f"5213311110{n:03d}", big_promise(), timeout=120)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(100, 116)))
    assert all([r.get("text") for r in replies] == [TOO_LONG] for replies in answers)
    still_up(servers)


@pytest.mark.parametrize(
    "text",
    # 25,000 emoji: 100 KB of text, 300 KB as JSON (\ud83d\ude00), under Rasa's body limit.
    [big_promise(), '/informar{"plan_elegido": "' + "P" * BIG + '"}', "😀" * (BIG // 4)],
    ids=["promise", "button-like", "emoji"],
)
def test_model_parse_with_a_100kb_text(servers: Servers, text: str) -> None:
    started = time.monotonic()
    reply = requests.post(
        api(servers, "/model/parse"),
        params={"token": servers.api_token},
        json={"text": text},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text[:300]
    assert time.monotonic() - started < 15
    read_nothing(reply.json())


def test_model_parse_still_reads_short_texts(servers: Servers) -> None:
    reply = requests.post(
        api(servers, "/model/parse"),
        params={"token": servers.api_token},
        json={"text": "te pago 500 el viernes"},
        timeout=30,
    )
    parsed = reply.json()
    assert parsed["intent"]["name"] == "prometer_pago"
    assert {e["entity"] for e in parsed["entities"]} >= {"monto", "fecha"}


def test_model_parse_needs_the_token(servers: Servers) -> None:
    reply = requests.post(api(servers, "/model/parse"), json={"text": big_promise()}, timeout=30)
    assert reply.status_code == 401


# --- web chat -----------------------------------------------------------------------------------


def webchat_url(servers: Servers) -> str:
    return f"http://127.0.0.1:{servers.rasa_port}"


def test_a_100kb_message_on_the_web_chat(servers: Servers) -> None:
    async def scenario() -> str:
        async with Chat(webchat_url(servers)) as chat:
            session = await chat.session()
            await chat.say(big_promise())
            answer = await chat.expect("bot_uttered", timeout=30)
            assert answer["text"] == TOO_LONG
            await chat.nothing(1.0)
            return session["session_id"]

    session_id = asyncio.run(asyncio.wait_for(scenario(), 60))
    [event] = user_events(servers, session_id)
    assert len(event["text"]) == MAX_MESSAGE_CHARS + 1  # the tracker never holds 100 KB
    read_nothing(event["parse_data"])


def test_a_flood_on_the_web_chat_reaches_rasa_5_times_and_gets_one_notice(
    servers: Servers,
) -> None:
    async def scenario() -> tuple[str, list[tuple[str, Any]]]:
        async with Chat(webchat_url(servers)) as chat:
            session = await chat.session()
            await flood(chat, 15)
            events = []
            while True:
                try:
                    events.append(await chat.next(3.0))
                except asyncio.TimeoutError:
                    return session["session_id"], events

    session_id, events = asyncio.run(asyncio.wait_for(scenario(), 90))
    notices = [data for name, data in events if name == "chat_error"]
    assert notices == [{"code": "rate_limited", "text": NOTICE}]
    assert len(user_events(servers, session_id)) == PER_MINUTE


# --- WhatsApp -----------------------------------------------------------------------------------


def post_whatsapp(servers: Servers, wa_id: str, text: str, n: int) -> int:
    item = text_message(wa_id, text, f"wamid.limites.{time.monotonic_ns()}.{n}", int(time.time()))
    body, headers = signed_request(webhook_payload(item), SECRET)
    url = api(servers, "/webhooks/whatsapp/webhook")
    return requests.post(url, data=body, headers=headers, timeout=30).status_code


def answers_to(graph: FakeGraphAPI, wa_id: str, at_least: int) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        texts = [
            m["text"]["body"]
            for m in graph.messages
            if m.get("to") == wa_id and m.get("type") == "text"
        ]
        if len(texts) >= at_least:
            time.sleep(2)  # anything else this produced
            return [
                m["text"]["body"]
                for m in graph.messages
                if m.get("to") == wa_id and m.get("type") == "text"
            ]
        assert time.monotonic() < deadline, (texts, graph.rejected)
        time.sleep(0.1)


def test_a_100kb_message_on_whatsapp(servers: Servers, graph: FakeGraphAPI) -> None:
    wa_id = "5213311112001"
    assert post_whatsapp(servers, wa_id, big_promise(), 0) == 200
    assert answers_to(graph, wa_id, 1) == [TOO_LONG]
    [event] = user_events(servers, wa_id)
    assert len(event["text"]) == MAX_MESSAGE_CHARS + 1
    read_nothing(event["parse_data"])


def test_a_concurrent_flood_on_whatsapp_reaches_rasa_5_times_and_gets_one_notice(
    servers: Servers, graph: FakeGraphAPI
) -> None:
    wa_id = "5213311112002"
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda n: post_whatsapp(servers, wa_id, "hola", n), range(12)))
    assert statuses == [200] * 12  # every delivery is acknowledged (and stored once)
    texts = answers_to(graph, wa_id, PER_MINUTE + 1)
    assert texts.count(NOTICE) == 1
    assert len(texts) == PER_MINUTE + 1  # one greeting per message that got through
    assert len(user_events(servers, wa_id)) == PER_MINUTE
    still_up(servers)
