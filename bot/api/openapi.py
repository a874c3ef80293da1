"""The OpenAPI 3.1 description of `/api/v1`, written by hand, served at `GET /api/v1/openapi.json`.

tests/test_api_openapi.py holds it to the server: every route served is described here and every
path here is served, and a Hypothesis run builds requests from these schemas (and breaks them) and
checks that every answer is a documented status with a body that matches its schema.

Adding a route (for instance 码上商量's topics): describe it in `PATHS` with its request and answer
schemas, reusing `COMPONENTS` (Error, the standard error answers).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from bot.api.openapi_stats import SCHEMAS as STATS_SCHEMAS
from bot.api.openapi_stats import stats_paths
from handlers.miniprogram.cases import ADDRESS_MAX_CHARS, COMMENT_MAX_CHARS, PAGE_SIZE_MAX, TEXT_MAX_CHARS
from handlers.miniprogram.subscriptions import MAX_PER_REQUEST
from handlers.miniprogram.uploads import MAX_PER_MESSAGE
from handlers.topics.opinions import ORDERS
from handlers.topics.opinions import PAGE_SIZE_MAX as OPINION_PAGE_MAX

VERSION = "1.0.0"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def answer(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {"description": description, **_json(schema)}
    if headers:
        out["headers"] = headers
    return out


def error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return answer(description, ref("Error"), headers)


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "string"}}}
NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
CODE_PARAM = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "A tracking code, e.g. MS26112300016 (the last digit is a check digit)",
    "schema": {"type": "string"},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key (and body) answers the first result and does nothing again",
    "schema": {"type": "string", "pattern": "^[!-~]{1,100}$"},
}


def _errors(*statuses: int) -> dict[str, Any]:
    known = {
        "400": error("The body is not valid JSON (or not a JSON object)"),
        "401": error("No token, or a malformed, expired or forged one"),
        "403": error("WeChat blocks this user"),
        "404": error("Nothing there (or not yours)"),
        "409": error("The case's state does not allow it"),
        "413": error("The body or file is too large"),
        "415": error("Not JSON (or not multipart); a file type we do not take"),
        "422": error("A field's value is not acceptable: error.field names it"),
        "429": error("Too many requests: wait Retry-After seconds", RETRY_AFTER),
        "503": error("WeChat or our storage is unavailable for a moment: try again", RETRY_AFTER),
    }
    return {str(status): known[str(status)] for status in statuses}


AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}]
TOPIC_KEY = {
    "name": "key",
    "in": "path",
    "required": True,
    "description": "The topic's key (the scene of its code is tp=<key>)",
    "schema": {"type": "string"},
}
UPLOAD_IDS = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_PER_MESSAGE, "uniqueItems": True}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "Chinese, for the citizen"},
                    "field": {"type": "string", "description": "The request field a 422 is about"},
                },
            }
        },
    },
    "Session": {
        "type": "object",
        "required": ["token", "expires_in"],
        "additionalProperties": False,
        "properties": {"token": {"type": "string"}, "expires_in": {"type": "integer", "minimum": 1}},
    },
    "ContactPoint": {
        "type": "object",
        "required": ["key", "name", "kind", "district", "prompt", "active"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string"},
            "name": {"type": "string"},
            "kind": {"type": "string"},
            "district": {"type": "string"},
            "prompt": {"type": "string"},
            "active": {"type": "boolean", "description": "false: revoked; the citizen may still write"},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["upload_id", "kind", "content_type", "size"],
        "additionalProperties": False,
        "properties": {
            "upload_id": {"type": "string"},
            "kind": {"enum": ["image", "voice", "video"]},
            "content_type": {"type": "string"},
            "size": {"type": "integer", "minimum": 1},
        },
    },
    "Location": {
        "type": "object",
        "required": ["latitude", "longitude"],
        "additionalProperties": False,
        "properties": {
            "latitude": {"type": "number", "minimum": -90, "maximum": 90},
            "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            "address": {"type": "string", "maxLength": ADDRESS_MAX_CHARS},
        },
    },
    "NewCase": {
        "type": "object",
        "required": ["contact_point", "text"],
        "additionalProperties": False,
        "properties": {
            "contact_point": {"type": "string", "description": "The contact point's key (from the code's scene)"},
            "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS},
            "upload_ids": UPLOAD_IDS,
            "location": ref("Location"),
            "phone_code": {
                "type": "string",
                "description": "From the getPhoneNumber button; the number is kept for the phone return visit",
            },
        },
    },
    "FollowUp": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS},
            "upload_ids": UPLOAD_IDS,
        },
    },
    "Rating": {
        "type": "object",
        "required": ["score"],
        "additionalProperties": False,
        "properties": {
            "score": {"enum": [1, 2, 3], "description": "1 满意, 2 基本满意, 3 不满意"},
            "comment": {"type": "string", "maxLength": COMMENT_MAX_CHARS},
        },
    },
    "Subscriptions": {
        "type": "object",
        "required": ["accepted"],
        "additionalProperties": False,
        "properties": {
            "accepted": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_PER_REQUEST,
                "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": "Template ids the citizen accepted in wx.requestSubscribeMessage: one send each",
            }
        },
    },
    "Consents": {
        "type": "object",
        "required": ["consents"],
        "additionalProperties": False,
        "properties": {"consents": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}},
    },
    "CaseAnswer": {
        "type": "object",
        "required": ["tracking_code", "status", "status_text", "message"],
        "additionalProperties": False,
        "properties": {
            "tracking_code": {"type": "string"},
            "status": ref("Status"),
            "status_text": {"type": "string"},
            "message": {"type": "string", "description": "What to tell the citizen"},
        },
    },
    "Status": {
        "enum": [
            "received",
            "assigned",
            "accepted",
            "needs_info",
            "transferred",
            "replied",
            "return_visit",
            "closed",
            "merged",
            "rejected",
            "reopened",
        ]
    },
    "PointRef": {
        "type": ["object", "null"],
        "required": ["key", "name"],
        "additionalProperties": False,
        "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
    },
    "CaseSummary": {
        "type": "object",
        "required": ["tracking_code", "status", "status_text", "contact_point", "created_at", "summary", "channel"],
        "properties": {
            "tracking_code": {"type": "string"},
            "status": ref("Status"),
            "status_text": {"type": "string"},
            "contact_point": ref("PointRef"),
            "created_at": TIME,
            "summary": {"type": "string"},
            "channel": {"enum": ["miniprogram", "official_account"], "description": "Where the case was filed"},
        },
    },
    "CasePage": {
        "type": "object",
        "required": ["cases", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "cases": {"type": "array", "items": ref("CaseSummary")},
            "next_cursor": {**NULLABLE_STRING, "description": "null on the last page"},
        },
    },
    "Message": {
        "type": "object",
        "required": ["time", "kind", "msg_type", "text"],
        "additionalProperties": False,
        "properties": {
            "time": TIME,
            "kind": {"enum": ["citizen", "question"], "description": "the citizen's, or a member's question"},
            "msg_type": {"type": "string"},
            "text": {"type": "string"},
            "upload_id": {"type": "string"},
        },
    },
    "Reply": {
        "type": "object",
        "required": ["time", "text", "signature", "by"],
        "additionalProperties": False,
        "properties": {
            "time": TIME,
            "text": {"type": "string"},
            "signature": {"type": "string", "description": "The committee's display name"},
            "by": {**NULLABLE_STRING, "description": "The signature the chat reply carried, e.g. 政协委员张三"},
        },
    },
    "TimelineEntry": {
        "type": "object",
        "required": ["time", "kind", "title", "note"],
        "additionalProperties": False,
        "properties": {
            "time": TIME,
            "kind": {
                "enum": [
                    "submitted",
                    "assigned",
                    "transferred",
                    "asked",
                    "info_provided",
                    "replied",
                    "return_visit",
                    "closed",
                    "reopened",
                    "merged",
                    "rejected",
                    "not_pushed",
                ]
            },
            "title": {"type": "string"},
            "note": {"type": "string"},
        },
    },
    "CaseDetail": {
        "allOf": [ref("CaseSummary")],
        "type": "object",
        "required": ["messages", "replies", "timeline", "deadlines", "can_rate", "can_follow_up", "merged_into"],
        "properties": {
            "messages": {"type": "array", "items": ref("Message")},
            "replies": {"type": "array", "items": ref("Reply")},
            "timeline": {"type": "array", "items": ref("TimelineEntry")},
            "deadlines": {
                "type": "object",
                "required": ["assign_due_at", "reply_due_at"],
                "additionalProperties": False,
                "properties": {"assign_due_at": NULLABLE_TIME, "reply_due_at": NULLABLE_TIME},
            },
            "can_rate": {"type": "boolean", "description": "In its return visit: POST …/rating answers it"},
            "can_follow_up": {"type": "boolean"},
            "merged_into": {
                "type": ["object", "null"],
                "required": ["tracking_code", "status", "status_text"],
                "additionalProperties": False,
                "properties": {
                    "tracking_code": {"type": "string"},
                    "status": ref("Status"),
                    "status_text": {"type": "string"},
                },
            },
        },
    },
    "Me": {
        "type": "object",
        "required": ["channels", "cases_count", "phone", "consents"],
        "additionalProperties": False,
        "properties": {
            "channels": {"type": "array", "items": {"enum": ["miniprogram", "official_account"]}},
            "cases_count": {"type": "integer", "minimum": 0},
            "phone": {**NULLABLE_STRING, "description": "Masked"},
            "consents": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
        },
    },
    "Topic": {
        "type": "object",
        "required": ["key", "title", "body", "until", "status", "status_text", "opinion_count", "summary"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "until": {"type": "string", "format": "date", "description": "The last day opinions are taken"},
            "status": {"enum": ["open", "closed"]},
            "status_text": {"type": "string"},
            "opinion_count": {"type": "integer", "minimum": 0, "description": "Published opinions"},
            "summary": {**NULLABLE_STRING, "description": "The outcome, once the topic is closed"},
        },
    },
    "Author": {
        "type": "object",
        "required": ["kind", "label", "nickname"],
        "additionalProperties": False,
        "properties": {
            "kind": {"enum": ["citizen", "member"]},
            "label": {"enum": ["群众", "委员"]},
            "nickname": {"type": "string", "description": "Masked"},
        },
    },
    "Opinion": {
        "type": "object",
        "required": ["opinion_id", "text", "author", "support_count", "created_at", "image_ids"],
        "additionalProperties": False,
        "properties": {
            "opinion_id": {"type": "integer"},
            "text": {"type": "string"},
            "author": ref("Author"),
            "support_count": {"type": "integer", "minimum": 0},
            "created_at": TIME,
            "image_ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Images that passed WeChat's media check (the others are not listed)",
            },
        },
    },
    "OpinionPage": {
        "type": "object",
        "required": ["opinions", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "opinions": {"type": "array", "items": ref("Opinion")},
            "next_cursor": {**NULLABLE_STRING, "description": "null on the last page"},
        },
    },
    "NewOpinion": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS},
            "upload_ids": {**UPLOAD_IDS, "description": "Images only; each shown once WeChat's media check passes"},
            "contact_point": {"type": "string", "description": "The contact point the citizen came through, if any"},
        },
    },
    "OpinionAnswer": {
        "type": "object",
        "required": ["opinion_id", "status", "message"],
        "additionalProperties": False,
        "properties": {
            "opinion_id": {"type": "integer"},
            "status": {"enum": ["published", "review"], "description": "review: waits for staff approval"},
            "message": {"type": "string"},
        },
    },
    "SupportAnswer": {
        "type": "object",
        "required": ["opinion_id", "support_count", "message"],
        "additionalProperties": False,
        "properties": {
            "opinion_id": {"type": "integer"},
            "support_count": {"type": "integer", "minimum": 1},
            "message": {"type": "string"},
        },
    },
    "PhoneForgotten": {
        "type": "object",
        "required": ["phone", "message"],
        "additionalProperties": False,
        "properties": {"phone": {"type": "null"}, "message": {"type": "string"}},
    },
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, **_json(ref(name))}


PATHS: dict[str, Any] = {
    "/session": {
        "post": {
            "summary": "Sign in with a wx.login code (jscode2session); answers our own token",
            "security": [],
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "required": ["code"],
                        "additionalProperties": False,
                        "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 128}},
                    }
                ),
            },
            "responses": {
                "201": answer("Signed in", ref("Session")),
                **_errors(400, 401, 403, 413, 415, 422, 429, 503),
            },
        }
    },
    "/contact-points/{key}": {
        "get": {
            "summary": "A contact point, from the scene of its mini-program code (cp=<key>)",
            "security": [],
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": answer("The contact point", ref("ContactPoint")), **_errors(404, 429, 503)},
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": answer("OpenAPI 3.1", {"type": "object"}), **_errors(429, 503)},
        }
    },
    "/uploads": {
        "post": {
            "summary": "Upload an image (JPEG, PNG, WebP; 5 MiB) or an audio or video (10 MiB), told by its bytes",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream"}},
                        }
                    }
                },
            },
            "responses": {"201": answer("Stored", ref("Upload")), **_errors(400, 401, 413, 415, 422, 429, 503)},
        }
    },
    "/cases": {
        "post": {
            "summary": "File a case, as a first message to the official account does",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": _body("NewCase"),
            "responses": {
                "201": answer("Filed: the tracking code", ref("CaseAnswer")),
                **_errors(400, 401, 413, 415, 422, 429, 503),
            },
        },
        "get": {
            "summary": "The caller's cases (both channels' when linked by unionid), newest first",
            "parameters": [
                {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX},
                },
            ],
            "responses": {"200": answer("A page of cases", ref("CasePage")), **_errors(401, 422, 429, 503)},
        },
    },
    "/cases/{code}": {
        "get": {
            "summary": "One of the caller's cases: messages, replies, the public timeline, deadlines",
            "parameters": [CODE_PARAM],
            "responses": {
                "200": answer("The case", ref("CaseDetail")),
                "404": error("No such case of the caller's (error.code bad_check_digit: a mistyped code)"),
                **_errors(401, 429, 503),
            },
        }
    },
    "/cases/{code}/messages": {
        "post": {
            "summary": "Add to a case (an answer to a member's question reaches the member)",
            "parameters": [CODE_PARAM, IDEMPOTENCY_KEY],
            "requestBody": _body("FollowUp"),
            "responses": {
                "201": answer("Added", ref("CaseAnswer")),
                **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
            },
        }
    },
    "/cases/{code}/rating": {
        "post": {
            "summary": "The return visit: 1 满意 and 2 基本满意 close the case, 3 不满意 reopens it",
            "parameters": [CODE_PARAM],
            "requestBody": _body("Rating"),
            "responses": {
                "200": answer("Recorded", ref("CaseAnswer")),
                **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
            },
        }
    },
    "/subscriptions": {
        "post": {
            "summary": "Record one-time subscribe consents (one consent, one subscribe message)",
            "requestBody": _body("Subscriptions"),
            "responses": {
                "200": answer("The consents left per template", ref("Consents")),
                **_errors(400, 401, 413, 415, 422, 429, 503),
            },
        }
    },
    "/me": {
        "get": {
            "summary": "What we know of the caller",
            "responses": {"200": answer("The caller", ref("Me")), **_errors(401, 429, 503)},
        }
    },
    "/me/phone": {
        "delete": {
            "summary": "Forget the caller's phone number",
            "responses": {"200": answer("Forgotten", ref("PhoneForgotten")), **_errors(401, 429, 503)},
        }
    },
    "/topics/{key}": {
        "get": {
            "summary": "A consultation topic (码上商量), from the scene of its mini-program code (tp=<key>)",
            "parameters": [TOPIC_KEY],
            "responses": {"200": answer("The topic", ref("Topic")), **_errors(401, 404, 429, 503)},
        }
    },
    "/topics/{key}/opinions": {
        "get": {
            "summary": "The topic's published opinions, newest or most supported first",
            "parameters": [
                TOPIC_KEY,
                {"name": "order", "in": "query", "required": False, "schema": {"enum": list(ORDERS)}},
                {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": OPINION_PAGE_MAX},
                },
            ],
            "responses": {"200": answer("A page of opinions", ref("OpinionPage")), **_errors(401, 404, 422, 429, 503)},
        },
        "post": {
            "summary": "Post an opinion: WeChat's content check first (pass publishes, review waits, risky 422)",
            "parameters": [TOPIC_KEY, IDEMPOTENCY_KEY],
            "requestBody": _body("NewOpinion"),
            "responses": {
                "201": answer("Stored", ref("OpinionAnswer")),
                "409": error("The topic is closed"),
                "422": error("A field's value is not acceptable (error.code content_risky: the text was refused)"),
                **_errors(400, 401, 404, 413, 415, 429, 503),
            },
        },
    },
    "/opinions/{id}/support": {
        "post": {
            "summary": "附议: support a published opinion, once per person",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": answer("Supported", ref("SupportAnswer")),
                "409": error("Supported already, one's own opinion, or the topic is closed"),
                **_errors(401, 404, 429, 503),
            },
        }
    },
}


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "码上商 mini-program API",
            "version": VERSION,
            "description": (
                'JSON in and out (UTF-8). Every error is {"error": {"code", "message", "field"?}}; '
                "message is Chinese, for the citizen. Every route may also answer 404 (no such route), "
                "405 (method) and 429 (per client address). /stats/... are the web console's figures for the "
                "committee's dashboards, for a staff token (docs/api.md)."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": AUTHENTICATED,
        "paths": {**PATHS, **stats_paths(error)},
        "components": {
            "schemas": {**SCHEMAS, **STATS_SCHEMAS},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "POST /session's token"},
                "staff": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A staff member's read-only token for /stats (mashang staff token <key>)",
                },
            },
        },
    }


def spec() -> dict[str, Any]:
    """The document (a copy: callers may change it)."""
    return copy.deepcopy(_document())
