"""Explained decisions on the inference path: each row decided with its principal reasons (serving.decisions) before
it is scored, and logged as a row of its own carrying its decision record (serving.inference.logbook writes both in
one transaction, durable before the answer). docs/serving.md, "Decision records"."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection

from audits.local_explanations import NotExplainable
from core.refusals import Busy
from serving.decisions import Decision, DecisionRule, decide, decision_rule
from serving.inference import contract as contracts
from serving.inference.errors import HttpError
from serving.inference.loaded import LoadedVersion
from serving.inference.logbook import Row, inputs_digest

# How often a version loaded without an explanation report looks for one again when asked to explain.
RULE_RETRY_SECONDS = 30.0


class Decider:
    """Decides rows for one service process, keeping the decision rules found after a version was loaded (its
    explanation report came later): version id -> (the rule or None, when it was last looked for)."""

    def __init__(self) -> None:
        self._late_rules: dict[int, tuple[DecisionRule | None, float]] = {}

    def rule(self, loaded: LoadedVersion) -> DecisionRule | None:
        """The version's decision rule: the one read at load, or, when it had no explanation report then (the audit
        job finishes after the deployment), the one found since, looked for at most every RULE_RETRY_SECONDS.
        Blocking (a database read): called off the event loop."""
        if loaded.decision_rule is not None:
            return loaded.decision_rule
        rule, checked = self._late_rules.get(loaded.version_id, (None, -math.inf))
        if rule is None and time.monotonic() - checked >= RULE_RETRY_SECONDS:
            try:
                rule = decision_rule(loaded.version)
            finally:
                connection.close()  # a worker thread's connection: not kept past its use
            self._late_rules[loaded.version_id] = (rule, time.monotonic())
        return rule

    async def decide(self, loaded: LoadedVersion, rows: list[dict[str, Any]]) -> list[Decision]:
        """Each row's decision with its principal reasons, off the event loop: the explainer's first build in this
        process may take seconds (503 with Retry-After past EXPLAIN_BUILD_WAIT_SECONDS)."""
        if not rows:
            raise HttpError(409, "This model's inputs are not rows of features: its decisions cannot be explained.")

        def decided() -> list[Decision]:
            return decide(loaded.version, rows, rule=self.rule(loaded))

        try:
            return await asyncio.to_thread(decided)
        except NotExplainable as error:
            raise HttpError(error.status, error.message) from None
        except ValidationError as error:
            messages = getattr(error, "message_dict", {"rows": error.messages})
            field, texts = next(iter(messages.items()))
            raise HttpError(400, f"{field}: {' '.join(texts)}") from None
        except Busy as error:
            raise HttpError(503, error.message, {"retry-after": str(error.retry_after)}) from None
        except DatabaseError:
            # Looking for an explanation report that came after the load needs the database.
            raise HttpError(503, "The explanation cannot be found now; try again.", {"retry-after": "5"}) from None


def decided_rows(
    whole: Row, loaded: LoadedVersion, feature_rows: list[dict[str, Any]], results: list[Any], decisions: list[Decision]
) -> list[Row]:
    """The log rows of an explained request: ``whole`` (the request's row) split into one row per input row, each
    with its decision, since a decision record is the decision of one row."""
    predictions = contracts.predictions(loaded.contract, results, len(feature_rows))
    scores = whole["scores"]
    rows = []
    for index, (features, decision) in enumerate(zip(feature_rows, decisions, strict=True)):
        rows.append(
            {
                **whole,
                "rows": 1,
                # The row as the rows form takes it (an OIP request's, from its checked tensors).
                "inputs": [features] if loaded.keep_inputs else None,
                "inputs_sha256": "" if loaded.keep_inputs else inputs_digest([features]),
                "outputs": [predictions[index]],
                "scores": scores[index : index + 1],
                "quality": loaded.profile.assess([features]),
                "decision": decision.as_json(),
            }
        )
    return rows
