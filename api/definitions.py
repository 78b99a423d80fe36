"""Process definitions: deploy BPMN/DMN files as new immutable versions, and read them back."""
from __future__ import annotations

from pathlib import PurePath
from typing import Any

from flask import Response, jsonify
from flask_smorest import Blueprint, abort

from cartpath.engine.definition_diff import diff_versions
from cartpath.engine.errors import DefinitionRejected, UnknownDefinition
from cartpath.engine.lint import NS, parse_xml

from . import schemas as s
from .auth import PROCESS_OWNER, current_principal, require
from .conventions import POSITION_HEADERS, consumes, content_disposition, operation_id, refusals
from .views import engine, with_position

blp = Blueprint("process-definitions", __name__, url_prefix="/api/v1/process-definitions",
                description="Versioned BPMN/DMN process definitions (process owners deploy).")


@blp.route("", methods=["GET"])
@operation_id(blp, "listProcessDefinitions")
@blp.response(200, s.DefinitionListSchema)
@refusals(blp)
def listing():
    """Every deployed version of every process."""
    current_principal()
    return {"items": engine().definitions()}


def _uploaded(storages) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    problems = []
    for storage in storages:
        name = PurePath((storage.filename or "").replace("\\", "/")).name
        if not name.endswith((".bpmn", ".dmn")):
            problems.append({"file": name or "(unnamed)", "line": None, "message": "only .bpmn and .dmn files"})
        elif name in files:
            problems.append({"file": name, "line": None, "message": "two files with this name"})
        else:
            files[name] = storage.read()
    if problems:
        raise DefinitionRejected(f"{len(problems)} problem(s) in the upload: {problems[0]['message']}", problems)
    if not files:
        raise DefinitionRejected("send at least one .bpmn file in the form field `files`",
                                 [{"file": "(none)", "line": None, "message": "no files"}])
    return files


@blp.route("", methods=["POST"])
@consumes("multipart")
@operation_id(blp, "deployProcessDefinitions")
@blp.arguments(s.UploadSchema, location="files")
@blp.response(201, s.DeployResultSchema, description="Deployed as new version(s)", headers=POSITION_HEADERS)
@blp.alt_response(200, schema=s.DeployResultSchema, description="These exact files were already deployed",
                  headers=POSITION_HEADERS)
@refusals(blp, "BAD_REQUEST", "REQUEST_ENTITY_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
def deploy(upload: dict[str, Any]):
    """Deploy one or more BPMN/DMN files (process owners). Lint problems: 422 naming file and line."""
    principal = require(PROCESS_OWNER)
    app = engine()
    results = app.deploy(_uploaded(upload["files"]), actor=principal.actor())
    created = any(r["created"] for r in results)
    response = jsonify(s.DeployResultSchema().dump({"items": results}))
    response.status_code = 201 if created else 200
    return with_position(response, app.last_position() if created else None)


def _files(key: str, version: int) -> dict[str, str]:
    return engine().definition_files(key, version)


@blp.route("/<key>/versions/<int:version>", methods=["GET"])
@operation_id(blp, "getProcessDefinition")
@blp.response(200, s.DefinitionSchema)
@refusals(blp, "NOT_FOUND")
def show(key: str, version: int):
    """One version's metadata (fingerprint, files, who deployed it)."""
    current_principal()
    for item in engine().definitions():
        if item["key"] == key and item["version"] == version:
            return item
    raise UnknownDefinition(f"process definition {key!r} has no version {version}")


def _xml(text: str, name: str) -> Response:
    return Response(text, mimetype="application/xml", headers={"Content-Disposition": content_disposition(name)})


@blp.route("/<key>/versions/<int:version>/bpmn", methods=["GET"])
@operation_id(blp, "getProcessDefinitionBpmn")
@blp.response(200, content_type="application/xml", description="The BPMN file that defines the process")
@refusals(blp, "NOT_FOUND")
def bpmn(key: str, version: int):
    """The BPMN XML of a version (the file that defines process `key`)."""
    current_principal()
    files = _files(key, version)
    for name, text in sorted(files.items()):
        if not name.endswith(".bpmn"):
            continue
        root, _ = parse_xml(name, text.encode("utf-8"))
        if root is not None and any(p.get("id") == key for p in root.iterfind("bpmn:process", NS)):
            return _xml(text, name)
    raise UnknownDefinition(f"no BPMN file of {key!r} version {version} defines process {key!r}")


@blp.route("/<key>/versions/<int:version>/files/<name>", methods=["GET"])
@operation_id(blp, "getProcessDefinitionFile")
@blp.response(200, content_type="application/xml", description="One BPMN or DMN file of the version")
@refusals(blp, "NOT_FOUND")
def file(key: str, version: int, name: str):
    """Any file of a version (BPMN or DMN), by name."""
    current_principal()
    files = _files(key, version)
    if name not in files:
        raise UnknownDefinition(f"{key!r} version {version} has no file {name!r} (it has {', '.join(sorted(files))})")
    return _xml(files[name], name)


@blp.route("/<key>/versions/<int:version>/diff", methods=["GET"])
@operation_id(blp, "diffProcessDefinitionVersions")
@blp.arguments(s.DiffQuerySchema, location="query")
@blp.response(200, s.DefinitionDiffSchema)
@refusals(blp, "NOT_FOUND", "UNPROCESSABLE_ENTITY")
def diff(query: dict[str, Any], key: str, version: int):
    """What changed from `version` to version `against`: nodes, flows, forms, timers and DMN rules,
    each change also as a sentence for a process owner."""
    current_principal()
    app = engine()
    old = app.model(key, version)
    try:
        new = app.model(key, query["against"])
    except UnknownDefinition as err:
        abort(422, message=f"against: {err.detail}", errors={"against": [err.detail]})
    return diff_versions(old, new)
