"""marshmallow schemas of the REST API: they validate requests and document every response."""
from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from cartpath.engine.forms import FIELD_TYPES
from cartpath.engine.pathway import CANCEL_REASONS, DEATH_CAUSES, OUTCOMES
from cartpath.engine.signatures import MEANINGS
from cartpath.engine.signatures import ROLES as SIGNATURE_ROLES
from cartpath.engine.text import text_problem


class Text(validate.Length):
    """A length, and no control or bidirectional characters (engine/text.py); ``prose`` allows line breaks."""

    def __init__(self, min: int | None = None, max: int | None = None, *, prose: bool = False):  # noqa: A002
        super().__init__(min=min, max=max)
        self.prose = prose

    def __call__(self, value: Any) -> Any:
        value = super().__call__(value)
        problem = text_problem(value, prose=self.prose)
        if problem is not None:
            raise ValidationError(problem)
        return value


_id = Text(min=1, max=200)
STATUSES = ("active", "ended", "incident")  # incident: active, but stopped until its incident is retried
_text = Text(max=2000, prose=True)


def iso_datetime(**kwargs) -> fields.String:
    """A date-time the view already wrote as ISO 8601 text: dumped as is, documented `format: date-time`."""
    metadata = {"format": "date-time", **kwargs.pop("metadata", {})}
    return fields.String(metadata=metadata, **kwargs)


class DefinitionProblemSchema(Schema):
    file = fields.String(required=True)
    line = fields.Integer(required=True, allow_none=True)
    message = fields.String(required=True)


class ProblemSchema(Schema):
    """RFC 7807: the members below, plus any extension member a refusal adds."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "field -> messages (validation problems)"})
    problems = fields.List(fields.Nested(DefinitionProblemSchema),
                           metadata={"description": "process files refused: where and why"})
    field = fields.String(metadata={"description": "COI mismatch: the scanned field"})
    scanned = fields.String(allow_none=True, metadata={"description": "COI mismatch: what was scanned"})
    expected = fields.String(allow_none=True, metadata={"description": "COI mismatch: the pathway's COI"})


# -- requests -------------------------------------------------------------------------------------
class StartPathwaySchema(Schema):
    patient_ref = fields.String(required=True, validate=_id, metadata={"description": "pseudonymous id, never a name"})
    center = fields.String(required=True, validate=_id)
    indication = fields.String(required=True, validate=_id, metadata={"example": "DLBCL"})
    product = fields.String(required=True, validate=_id, metadata={"example": "axi-cel"})
    business_key = fields.String(load_default=None, allow_none=True, validate=_id,
                                 metadata={"description": "idempotency key: the same key and body give the same "
                                                          "pathway"})
    process_key = fields.String(load_default="cart_pathway", validate=_id,
                                metadata={"description": "process definition key; its latest version is used"})


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(CANCEL_REASONS),
                           metadata={"description": "lost_to_follow_up and transferred: after infusion only"})
    comment = fields.String(load_default=None, allow_none=True, validate=_text)
    death_date = fields.Date(load_default=None, allow_none=True,
                             metadata={"description": "required when reason is death; not in the future, "
                                                      "not before the infusion"})
    death_cause = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DEATH_CAUSES),
                                metadata={"description": "required when reason is death"})


class SignatureSchema(Schema):
    meaning = fields.String(required=True, validate=validate.OneOf(MEANINGS),
                            metadata={"description": "what the signature means (§11.50)"})
    token = fields.String(required=True, validate=Text(min=1, max=8192),
                          metadata={"description": "a signing token: a JWT with auth_time at most 5 minutes old "
                                                   "(`cartpath token --sign`)"})


class CompleteTaskSchema(Schema):
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "the task's form fields (see the task's `fields`)"})
    signature = fields.Nested(SignatureSchema, load_default=None, metadata={
        "description": "required for a signed task: the caller's own signature (the token's sub is the caller's)"})
    witness = fields.Nested(SignatureSchema, load_default=None, metadata={
        "description": "two-person check (infusion, product_receipt): a second person's signature"})
    countersign = fields.Nested(SignatureSchema, load_default=None, metadata={
        "description": "oos_acceptance: a countersignature by the role the model names (pharmacy)"})


class CorrectionSchema(Schema):
    field = fields.String(required=True, validate=_id, metadata={"description": "a field of the task's form"})
    value = fields.Raw(required=True, allow_none=True, metadata={"description": "the corrected value (the form's "
                                                                               "type; null clears an optional field)"})
    reason = fields.String(required=True, validate=Text(min=1, max=2000, prose=True))


class CorrectionRecordSchema(Schema):
    pathway_id = fields.String(required=True)
    task_id = fields.String(required=True, metadata={"description": "<pathway_id>:<task uuid>"})
    task = fields.String(required=True)
    field = fields.String(required=True)
    value = fields.Raw(required=True, allow_none=True)
    original = fields.Raw(required=True, allow_none=True, metadata={"description": "the value first recorded"})
    reason = fields.String(required=True)
    actor = fields.Dict(required=True)
    at = iso_datetime(required=True)
    decided_on_corrected_data = fields.Boolean(required=True, metadata={
        "description": "a decision downstream read this field: the pathway was not re-routed, review it"})
    version = fields.Integer(required=True, metadata={"description": "the pathway's version after the correction"})


class CorrelationSchema(Schema):
    order_id = fields.String(required=True, validate=_id)
    coi = fields.String(load_default=None, allow_none=True, validate=_id,
                        metadata={"description": "chain-of-identity id; required after slot_confirmed"})


class MessageSchema(Schema):
    name = fields.String(required=True, validate=_id, metadata={"example": "slot_confirmed"})
    message_id = fields.String(required=True, validate=_id,
                               metadata={"description": "unique; a repeat is answered once"})
    correlation = fields.Nested(CorrelationSchema, required=True)
    payload = fields.Dict(keys=fields.String(), load_default=dict)


class FireTimersSchema(Schema):
    now = fields.AwareDateTime(required=True, metadata={"description": "fire every timer due by this instant"})


class PageQuerySchema(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0),
                           metadata={"description": "cursor: the `next` of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PathwayQuerySchema(PageQuerySchema):
    center = fields.String(validate=_id)
    status = fields.String(validate=validate.OneOf(STATUSES))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))


def known_lane(value: str) -> None:
    """Lanes are the deployment's (PATHWAY.md's plus CARTPATH_EXTRA_LANES): an unknown one is refused
    like any other unknown filter value, naming the allowed ones, rather than answering nothing."""
    from flask import current_app
    lanes = current_app.extensions["cartpath"].lanes
    if value not in lanes:
        raise ValidationError(f"Must be one of: {', '.join(lanes)}.")


class TaskQuerySchema(PageQuerySchema):
    lane = fields.String(validate=[_id, known_lane])
    center = fields.String(validate=_id)
    pathway_id = fields.UUID()


AS_OF_DESCRIPTION = ("time travel: the state as it was at a version of the pathway (an integer, as `position` in its "
                     "history; 1 = just started) or at a moment (ISO 8601 date-time with an offset: after every "
                     "event recorded at or before it), rebuilt from its events; a point it never had is 422")


def as_of_field() -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": AS_OF_DESCRIPTION, "example": "2026-03-05T12:00:00Z"})


class PathwayReadQuerySchema(Schema):
    as_of = as_of_field()


class FeedQuerySchema(PageQuerySchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class UploadSchema(Schema):
    files = fields.List(Upload(), required=True, metadata={"description": "one or more .bpmn / .dmn files"})


# -- responses ------------------------------------------------------------------------------------
class DefinitionRefSchema(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    sha256 = fields.String()


class FormFieldSchema(Schema):
    """One field of a task's form, as the model declares it (send its value under `data.<name>`)."""

    class Meta:
        unknown = INCLUDE  # a later model may describe a field further (optional members only)

    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES),
                         metadata={"description": "date: YYYY-MM-DD; datetime: ISO 8601 with offset; "
                                                  "enum: one of `values`"})
    required = fields.Boolean(required=True)
    label = fields.String(required=True)
    label_fr = fields.String(metadata={"description": "the label in French, when the model gives one (`label-fr`)"})
    values = fields.List(fields.String(), metadata={"description": "the allowed values of an enum field"})
    minimum = fields.Float()
    maximum = fields.Float()
    default = fields.Raw(metadata={"description": "the value used when the field is not sent"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        # a field without `values` must not dump dict.values (marshmallow falls back to getattr)
        return obj.get(attr, default) if isinstance(obj, dict) else super().get_attribute(obj, attr, default)


class TaskSchema(Schema):
    id = fields.String(required=True, metadata={"description": "<pathway_id>:<task uuid>"})
    pathway_id = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "the PATHWAY.md task id"})
    lane = fields.String(required=True, allow_none=True)
    title = fields.String(required=True)
    center = fields.String(required=True)
    patient_ref = fields.String(required=True)
    ready_since = fields.DateTime(required=True)
    due_at = iso_datetime(allow_none=True)
    signed = fields.Boolean(required=True)
    signatures_required = fields.List(fields.String(validate=validate.OneOf(SIGNATURE_ROLES)), metadata={
        "description": "what the completion must carry: signer -> `signature`, witness, countersign"})
    countersign_role = fields.String(allow_none=True, metadata={"description": "who countersigns (a role)"})
    fields_ = fields.List(fields.Nested(FormFieldSchema), data_key="fields", attribute="fields", required=True)


class WaitingSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("message", "timer")))
    name = fields.String(required=True)
    due_at = iso_datetime(allow_none=True)
    title = fields.String(metadata={"description": "timers: what the wait means for a person, e.g. "
                                                   "'5 days without answer' (the BPMN event's name)"})


class CancellationSchema(Schema):
    class Meta:
        unknown = INCLUDE  # a reason may carry more (optional members only)

    reason = fields.String(required=True, validate=validate.OneOf(CANCEL_REASONS))
    comment = fields.String(required=True, allow_none=True)
    at = fields.DateTime(required=True, allow_none=True)
    by = fields.String(required=True, allow_none=True, metadata={"description": "who cancelled (token subject)"})


class IncidentSchema(Schema):
    """A step of the model that failed: the pathway waits for a retry. No data values in it."""

    incident_id = fields.String(required=True)
    node = fields.String(required=True, allow_none=True, metadata={"description": "BPMN id of the failed node"})
    error_class = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "what failed, without data values"})
    at = fields.DateTime(required=True)


class AsOfSchema(Schema):
    requested = fields.String(required=True, metadata={"description": "the as_of asked for"})
    version = fields.Integer(required=True, metadata={"description": "the pathway's version at that point"})
    at = fields.DateTime(required=True, metadata={"description": "recorded time of that version's event"})
    moment = fields.DateTime(required=True, metadata={
        "description": "the moment shown: the one asked for, or `at` for a version (open steps wait until it)"})


class PathwaySchema(Schema):
    id = fields.String(required=True)
    business_key = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES),
                           metadata={"description": "incident: active, but stopped until its incident is retried"})
    outcome = fields.String(required=True, allow_none=True)
    definition = fields.Nested(DefinitionRefSchema, required=True)
    patient_ref = fields.String(required=True)
    center = fields.String(required=True)
    indication = fields.String(required=True)
    product = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(required=True, allow_none=True)
    cancellation = fields.Nested(CancellationSchema, required=True, allow_none=True)
    correlation = fields.Dict(required=True)
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    waiting = fields.List(fields.Nested(WaitingSchema), required=True)
    data = fields.Dict(required=True)
    version = fields.Integer(required=True)
    incident = fields.Nested(IncidentSchema, allow_none=True,
                             metadata={"description": "the open incident, or null"})
    corrections = fields.List(fields.Dict(), metadata={
        "description": "corrections of completed tasks, oldest first: task_id, task, field, value, original, "
                       "reason, by, at, decided_on_corrected_data (`data` shows the current values)"})
    as_of = fields.Nested(AsOfSchema, metadata={"description": "only with ?as_of: the point this state is at"})


class PathwaySummarySchema(Schema):
    id = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "log position of its start (the list's order)"})
    business_key = fields.String(required=True, allow_none=True)
    patient_ref = fields.String(required=True)
    center = fields.String(required=True)
    indication = fields.String(required=True)
    product = fields.String(required=True)
    definition = fields.Nested(DefinitionRefSchema, required=True)
    status = fields.String(required=True)
    outcome = fields.String(required=True, allow_none=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(required=True, allow_none=True)


class PageSchema(Schema):
    next = fields.Integer(required=True, allow_none=True,
                          metadata={"description": "pass as `after` for the next page; null when this page is "
                                                   "the last"})


class PathwayPageSchema(PageSchema):
    items = fields.List(fields.Nested(PathwaySummarySchema), required=True)


class TaskPageSchema(PageSchema):
    items = fields.List(fields.Nested(TaskSchema), required=True)


class HistoryEventSchema(Schema):
    position = fields.Integer(required=True, metadata={"description": "the event's number in this pathway (1 first)"})
    type = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(("input", "outcome")))
    at = fields.DateTime(required=True, allow_none=True)
    recorded_at = fields.DateTime(required=True)
    actor = fields.Dict(required=True, allow_none=True)
    data = fields.Dict(required=True)
    definition_version = fields.Integer(allow_none=True, metadata={
        "description": "the version of the process in force when the event was recorded (after a `Migrated`, "
                       "the version it moved to); in a pathway's history only"})


class HistorySchema(Schema):
    pathway_id = fields.String(required=True)
    items = fields.List(fields.Nested(HistoryEventSchema), required=True)


class VerificationSchema(Schema):
    ok = fields.Boolean(required=True)
    pathway_id = fields.String(required=True)
    events = fields.Integer()
    reason = fields.String()
    first_divergent_event = fields.Dict()
    recorded = fields.Raw(allow_none=True)
    re_executed = fields.Raw(allow_none=True)


class MessageAnswerSchema(Schema):
    pathway_id = fields.String(required=True)
    accepted = fields.Boolean(required=True)
    message_id = fields.String(required=True)
    name = fields.String(required=True)
    duplicate = fields.Boolean(required=True, metadata={"description": "true when this message_id was seen before"})
    position = fields.Integer(required=True, allow_none=True)
    incident = fields.Nested(IncidentSchema, metadata={
        "description": "present when the step the message led to failed: the message is recorded, the pathway "
                       "waits for a retry"})


class FeedSchema(Schema):
    next = fields.Integer(required=True, allow_none=True,
                          metadata={"description": "pass as `after` for more; null when nothing more is there now"})
    last_position = fields.Integer(required=True,
                                   metadata={"description": "last log position examined: poll again with after=this"})


class OutboxItemSchema(Schema):
    position = fields.Integer(required=True)
    message_id = fields.String(required=True)
    name = fields.String(required=True)
    pathway_id = fields.String(required=True)
    at = fields.DateTime(required=True)
    payload = fields.Dict(required=True)


class OutboxSchema(FeedSchema):
    items = fields.List(fields.Nested(OutboxItemSchema), required=True)


class EventSchema(HistoryEventSchema):
    position = fields.Integer(required=True, metadata={"description": "position in the global log"})
    pathway_id = fields.String(required=True)
    version = fields.Integer(required=True)


class EventFeedSchema(FeedSchema):
    items = fields.List(fields.Nested(EventSchema), required=True)


class DefinitionSchema(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    files = fields.List(fields.String(), required=True)
    deployed_by = fields.String(required=True)
    deployed_at = fields.DateTime(required=True)


class DefinitionListSchema(Schema):
    items = fields.List(fields.Nested(DefinitionSchema), required=True)


class DeployedSchema(Schema):
    key = fields.String(required=True)
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    created = fields.Boolean(required=True,
                             metadata={"description": "false when these exact files were already deployed"})


class DeployResultSchema(Schema):
    items = fields.List(fields.Nested(DeployedSchema), required=True)


# -- the diff of two versions (engine.definition_diff) -------------------------------------------------
class DiffQuerySchema(Schema):
    against = fields.Integer(required=True, strict=False, validate=validate.Range(min=1), metadata={
        "description": "the other version: the diff goes from the version in the path to this one"})


class DiffNodeSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "the BPMN element, e.g. userTask"})
    lane = fields.String(required=True, allow_none=True)
    process = fields.String(required=True, metadata={"description": "the process or subprocess holding it"})


class DiffNodeChangeSchema(DiffNodeSchema):
    changes = fields.List(fields.String(), required=True, metadata={
        "description": "what changed: name, lane, type, flows, script, event, decision, form, timer, message, ..."})
    before = fields.Dict(required=True, metadata={"description": "old values of name, lane, type, message"})
    after = fields.Dict(required=True)
    new_id = fields.String(metadata={"description": "SpiffWorkflow aligned it with a node of another id"})


class DiffNodesSchema(Schema):
    added = fields.List(fields.Nested(DiffNodeSchema), required=True)
    removed = fields.List(fields.Nested(DiffNodeSchema), required=True)
    changed = fields.List(fields.Nested(DiffNodeChangeSchema), required=True)


class DiffPathSchema(Schema):
    id = fields.String(required=True)
    source = fields.String(required=True)
    target = fields.String(required=True)


class DiffFlowSchema(DiffPathSchema):
    condition = fields.String(required=True, allow_none=True)
    default = fields.Boolean(required=True)


class DiffFlowChangeSchema(DiffPathSchema):
    condition_before = fields.String(required=True, allow_none=True)
    condition_after = fields.String(required=True, allow_none=True)
    default_before = fields.Boolean(required=True)
    default_after = fields.Boolean(required=True)


class DiffFlowsSchema(Schema):
    added = fields.List(fields.Nested(DiffFlowSchema), required=True)
    removed = fields.List(fields.Nested(DiffFlowSchema), required=True)
    changed = fields.List(fields.Nested(DiffFlowChangeSchema), required=True)


class DiffFormChangeSchema(Schema):
    task = fields.String(required=True)
    task_name = fields.String(required=True)
    field = fields.String(required=True, allow_none=True, metadata={"description": "null: the task itself"})
    change = fields.String(required=True, metadata={
        "description": "field_added, field_removed, type, values, required, minimum, maximum, default, label, "
                       "label_fr, signed, coi_check_added, coi_check_removed, due"})
    before = fields.Raw(required=True, allow_none=True)
    after = fields.Raw(required=True, allow_none=True)
    sentence = fields.String(required=True)


class DiffTimerSchema(Schema):
    node = fields.String(required=True)
    name = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(("added", "removed", "changed")))
    before = fields.Dict(required=True, allow_none=True, metadata={
        "description": "kind (duration, date, cycle), expression, attached_to, interrupting"})
    after = fields.Dict(required=True, allow_none=True)
    sentence = fields.String(required=True)


class DiffDecisionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    decision = fields.String(required=True)
    name = fields.String(required=True)
    change = fields.String(required=True, validate=validate.OneOf(("added", "removed", "changed")))
    sentences = fields.List(fields.String(), required=True)
    hit_policy = fields.Dict(metadata={"description": "before and after"})
    rule_count = fields.Integer()
    inputs = fields.Dict(metadata={"description": "columns added, removed, changed"})
    outputs = fields.Dict(metadata={"description": "columns added, removed, changed"})
    rules = fields.Dict(metadata={"description": "added and removed (row, when, then) and changed (row_before, "
                                                 "row_after, inputs, outputs) rules"})


class DiffSummarySchema(Schema):
    nodes_added = fields.Integer(required=True)
    nodes_removed = fields.Integer(required=True)
    nodes_changed = fields.Integer(required=True)
    flows_added = fields.Integer(required=True)
    flows_removed = fields.Integer(required=True)
    flows_changed = fields.Integer(required=True)
    form_changes = fields.Integer(required=True)
    timer_changes = fields.Integer(required=True)
    decisions_changed = fields.Integer(required=True)
    rule_changes = fields.Integer(required=True)
    changes = fields.Integer(required=True)


class DefinitionDiffSchema(Schema):
    key = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    identical = fields.Boolean(required=True, metadata={"description": "the two versions have the same files"})
    summary = fields.Nested(DiffSummarySchema, required=True)
    nodes = fields.Nested(DiffNodesSchema, required=True)
    flows = fields.Nested(DiffFlowsSchema, required=True)
    forms = fields.List(fields.Nested(DiffFormChangeSchema), required=True)
    timers = fields.List(fields.Nested(DiffTimerSchema), required=True)
    decisions = fields.List(fields.Nested(DiffDecisionSchema), required=True)
    changes = fields.List(fields.String(), required=True, metadata={
        "description": "every change as one sentence for a process owner"})


class FiredIncidentSchema(IncidentSchema):
    pathway_id = fields.String(required=True)


class FireResultSchema(Schema):
    fired = fields.Integer(required=True)
    now = fields.DateTime(required=True)
    incidents = fields.List(fields.Nested(FiredIncidentSchema), required=True,
                            metadata={"description": "incidents raised by this round (those pathways stopped; "
                                                     "the others fired)"})


class ListedIncidentSchema(IncidentSchema):
    pathway_id = fields.String(required=True)
    position = fields.Integer(required=True, metadata={"description": "log position of the pathway's start"})
    business_key = fields.String(required=True, allow_none=True)
    center = fields.String(required=True)
    definition = fields.Nested(DefinitionRefSchema, required=True)


class IncidentPageSchema(PageSchema):
    items = fields.List(fields.Nested(ListedIncidentSchema), required=True)


class IncidentQuerySchema(PageQuerySchema):
    center = fields.String(validate=_id)
    key = fields.String(validate=_id, metadata={"description": "process definition key"})


class RetrySchema(Schema):
    data = fields.Dict(load_default=None, allow_none=True, metadata={
        "description": "values merged into the failed step's data before it runs again (a correction); recorded"})


class HealthSchema(Schema):
    status = fields.String(required=True)
    clock = fields.String(required=True)
    now = fields.DateTime(required=True)
    position = fields.Integer(required=True)


# -- audit: the hash chain -------------------------------------------------------------------------
class IntegrityQuerySchema(Schema):
    pathway = fields.UUID(metadata={"description": "check only this pathway's (or any aggregate's) chain"})
    anchor = fields.String(validate=validate.Regexp(r"^[0-9a-fA-F]{64}$", error="must be 64 hex digits"),
                           metadata={"description": "a hash from `cartpath audit anchor`: prove the store "
                                                    "still extends it (the whole store is then checked)"})


class IntegrityFindingSchema(Schema):
    position = fields.Integer(required=True, metadata={"description": "log position (notification id)"})
    originator_id = fields.String(required=True, metadata={
        "description": "the aggregate, `checkpoint`, or `unknown` (a link whose event is gone, naming no aggregate)"})
    version = fields.Integer(required=True, allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(("altered", "removed", "inserted", "reordered")))
    detail = fields.String(required=True)


class IntegrityAnchorSchema(Schema):
    hash = fields.String(required=True)
    position = fields.Integer(required=True, allow_none=True)
    ok = fields.Boolean(required=True)


class IntegrityReportSchema(Schema):
    ok = fields.Boolean(required=True)
    checked = fields.Integer(required=True, metadata={"description": "chained events whose hashes were recomputed"})
    checkpoints = fields.Integer(required=True, metadata={"description": "checkpoints recomputed and matched"})
    unchained = fields.Integer(required=True, metadata={"description": "events written before the chain began"})
    unchained_before = fields.Integer(required=True, allow_none=True)
    head = fields.Integer(required=True)
    pathway_id = fields.String(required=True, allow_none=True)
    anchor = fields.Nested(IntegrityAnchorSchema, required=True, allow_none=True)
    first_failure = fields.Nested(IntegrityFindingSchema, required=True, allow_none=True)
    findings = fields.List(fields.Nested(IntegrityFindingSchema), required=True)

class MigrationRequestSchema(Schema):
    from_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    to_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    pathways = fields.List(fields.String(), load_default=None, allow_none=True,
                           metadata={"description": "only these pathways (else every running one; not with center)"})
    center = fields.String(load_default=None, allow_none=True, validate=_text,
                           metadata={"description": "only this centre's pathways (not with pathways)"})
    task_mapping = fields.Dict(keys=fields.String(), values=fields.String(), load_default=None, allow_none=True,
                               metadata={"description": "{old node id: new node id} for ready tasks and waits "
                                                        "whose node was removed, renamed or changed kind"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "true: plan only, record nothing"})
    reason = fields.String(load_default=None, allow_none=True, validate=_text,
                           metadata={"description": "why (recorded with each move)"})


class MigrationTasksSchema(Schema):
    ready = fields.List(fields.String(), required=True, metadata={"description": "ready user tasks, by node id"})
    waiting = fields.List(fields.String(), required=True, metadata={"description": "waits (messages, timers)"})


class MigrationItemSchema(Schema):
    pathway_id = fields.String(required=True)
    center = fields.String()
    version = fields.Integer(metadata={"description": "the pathway's version (ETag) when checked, or after the move"})
    status = fields.String(required=True, validate=validate.OneOf(
        ("movable", "blocked", "migrated", "already_migrated", "skipped", "conflict")))
    reasons = fields.List(fields.String(), required=True)
    tasks_after = fields.Nested(MigrationTasksSchema, allow_none=True)


class MigrationResultSchema(Schema):
    key = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    dry_run = fields.Boolean(required=True)
    task_mapping = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    reason = fields.String(required=True, allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    pathways = fields.List(fields.Nested(MigrationItemSchema), required=True)
