"""Domain refusals. Each is one reason the engine says no; the API maps them once."""
from __future__ import annotations

from typing import Any


class CartpathError(Exception):
    """Base of every refusal; ``detail`` is one plain sentence for a person."""

    code = "error"

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class UnknownPathway(CartpathError):
    code = "unknown-pathway"


class UnknownTask(CartpathError):
    code = "unknown-task"


class UnknownDefinition(CartpathError):
    code = "unknown-definition"


class TaskNotReady(CartpathError):
    code = "task-not-ready"


class InvalidTaskData(CartpathError):
    """Form validation failed; ``errors`` maps field -> messages."""

    code = "invalid-task-data"

    def __init__(self, detail: str, errors: dict[str, list[str]]):
        super().__init__(detail, errors=errors)
        self.errors = errors


class ClinicalRuleViolation(InvalidTaskData):
    """A clinical rule of PATHWAY.md v2 refuses the data (time and order, a limit, a checklist);
    ``errors`` names the field and, in its message, the recorded fact it conflicts with."""

    code = "clinical-rule-violation"


class CoiMismatch(CartpathError):
    code = "coi-mismatch"


class CoiInUse(CartpathError):
    """A slot_confirmed names a COI another pathway already holds: one COI, one patient."""

    code = "coi-in-use"


class MessageIdReused(CartpathError):
    """A manufacturer repeated a message_id with a different name, correlation or payload."""

    code = "message-id-reused"


class InvalidStart(InvalidTaskData):
    code = "invalid-start"


class MessageNotCorrelated(CartpathError):
    """No waiting pathway matches the message's correlation keys."""

    code = "message-not-correlated"


class InvalidMessage(InvalidTaskData):
    code = "invalid-message"


class PathwayEnded(CartpathError):
    code = "pathway-ended"


class CancelRefused(CartpathError):
    code = "cancel-refused"


class BusinessKeyConflict(CartpathError):
    code = "business-key-conflict"


class DefinitionRejected(CartpathError):
    """Deploy or lint found problems; ``problems`` lists {file, line, message}."""

    code = "definition-rejected"

    def __init__(self, detail: str, problems: list[dict[str, Any]]):
        super().__init__(detail, problems=problems)
        self.problems = problems


class ConcurrentUpdate(CartpathError):
    """Someone else changed the pathway first; re-read and try again."""

    code = "concurrent-update"


class ClockNotManual(CartpathError):
    code = "clock-not-manual"


class EngineFailure(CartpathError):
    """The process model itself failed (a script error, a deadlock); nothing was recorded."""

    code = "engine-failure"


class ChainUnavailable(CartpathError):
    """The store keeps no hash chain (eventsourcing's in-memory store, or a plain recorder named on purpose)."""

    code = "no-chain"


class SignatureRefused(InvalidTaskData):
    """A signed task's signatures are missing, stale, someone else's, or one person twice; ``errors``
    names the signature (``signature``, ``witness``, ``countersign``) and why."""

    code = "signature-refused"


class TaskNotCompleted(TaskNotReady):
    """A correction names a task that exists but was never completed (ready or withdrawn)."""

    code = "task-not-completed"


class CorrectionRefused(InvalidTaskData):
    """A correction without a reason, of a field the task's form does not declare, or with a value
    the form or the clinical rules refuse."""

    code = "correction-refused"


class InvalidMigration(InvalidTaskData):
    """A migration request that cannot be planned: an unknown version, a mapping naming a node
    that does not exist, a selection that is not one; ``errors`` names the field."""

    code = "invalid-migration"


class MigrationBlocked(CartpathError):
    """This pathway cannot be moved to the other version as it stands; ``reasons`` say why."""

    code = "migration-blocked"

    def __init__(self, detail: str, reasons: list[str]):
        super().__init__(detail, reasons=reasons)
        self.reasons = reasons
