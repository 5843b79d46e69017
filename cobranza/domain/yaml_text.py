"""YAML that people edit, parsed without the features an attacker or a slip could abuse.

``yaml.safe_load`` builds no Python objects beyond plain data, but it still follows anchors and
aliases: ten nested aliases of ten items each (a "billion laughs" file of a few hundred bytes)
come back as one small object graph that any code walking it — a JSON Schema validator, the
conduct scan collecting every string — visits 10**10 times. Designers' files (campaigns,
templates) never need anchors, so they are refused before the document is built. Pure: the
caller reads the file (and caps its size, see :data:`MAX_DESIGNER_FILE_BYTES`).
"""

from __future__ import annotations

from typing import Any

import yaml

from cobranza.errors import Rejected

# A campaign or a template fits in a few kilobytes; 64 KiB leaves room for long comments and
# keeps a pasted log or a generated monster out of the parser.
MAX_DESIGNER_FILE_BYTES = 64 * 1024


class YamlRefused(Rejected):
    """The text is not YAML we accept; the message says why, in Spanish."""


def parse_yaml(text: str) -> Any:
    """The document in ``text``, with no anchors or aliases allowed.

    Raises :class:`YamlRefused` for malformed YAML (with the line and column PyYAML gives), for
    an anchor (``&x``) or an alias (``*x``), and for more than one document."""
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                mark = event.start_mark
                raise YamlRefused(
                    f"línea {mark.line + 1}: no se permiten anclas ni alias de YAML (&, *); "
                    "escribe cada valor completo"
                )
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise YamlRefused(f"YAML inválido: {' '.join(str(exc).split())}") from exc
    if len(documents) > 1:
        raise YamlRefused("el archivo tiene más de un documento YAML (---); usa uno por archivo")
    return documents[0] if documents else None
