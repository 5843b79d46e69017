"""Rasa's check of the action server's answers, without checking Rasa's own schema every time.

After every custom action call, Rasa 3.6 (``RemoteAction._validate_action_result``) validates the
action server's JSON with ``jsonschema.validate(answer, schema)``. That function first checks the
*schema* against JSON Schema's meta-schema, then builds a validator, then validates. The schema is
a constant Rasa ships (its event schemas), and checking it is what costs: 25–30 ms per call on this
machine, about a fifth of a whole action turn (docs/latency.md), while validating the answer takes
about 1 ms. Here the schema is checked once per process and its validator kept; every answer is
still validated against the same schema, and an invalid one fails with the same
``ValidationError`` and message as in Rasa.

The tracker store installs it (:func:`install`), so it runs in our Rasa server whatever the
channels. It replaces one method of Rasa's, so it is tied to Rasa 3.6 (the pinned series): under
another version nothing is replaced and Rasa's own check runs.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import rasa
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions import action as rasa_action
from rasa.core.actions.action import RemoteAction

logger = logging.getLogger(__name__)

RASA_SERIES = "3.6."
# Rasa's own words after the validator's message (rasa/core/actions/action.py, 3.6).
RASA_SUFFIX = (
    ". Failed to validate Action server response from API, "
    "make sure your response from the Action endpoint is valid. "
    "For more information about the format visit "
    f"{rasa_action.DOCS_BASE_URL}/custom-actions"
)


@functools.lru_cache(maxsize=4)
def validator(schema_json: str) -> Any:
    """The validator of a schema, the schema checked once against the meta-schema (keyed by
    its JSON text: Rasa builds the schema afresh at every call)."""
    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)  # a broken schema fails here, as in jsonschema.validate
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with the checked schema kept."""
    schema = json.dumps(self.action_response_format_spec(), sort_keys=True)
    error = best_match(validator(schema).iter_errors(result))
    if error is not None:
        error.message += RASA_SUFFIX
        raise error
    return True


def install() -> bool:
    """Replace Rasa's method (once; only under Rasa 3.6). True when ours is in place."""
    if RemoteAction._validate_action_result is validate_action_result:
        return True
    if not rasa.__version__.startswith(RASA_SERIES):
        logger.warning(
            "Rasa %s is not %sx: its check of the action server's answers stays as it is",
            rasa.__version__,
            RASA_SERIES,
        )
        return False
    RemoteAction._validate_action_result = validate_action_result
    return True
