"""The API documentation portal: one HTML page from the four services' OpenAPI documents.

It holds a getting-started guide (log in, submit, follow, search), every operation of every
document with a request example and a response example per status (the document's own example
where it has one, else one made from the schema), a "try it" form for the gateway's operations
(same origin, so no CORS), the error catalogue, the changelog and the deprecation policy.
Pure: `render` takes the documents and returns the page; `api/portal.py` serves it.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from reference_services.gateway.api_changes import CHANGELOG, MIN_NOTICE

METHODS = ("get", "post", "put", "patch", "delete")
SERVICES = ("gateway", "segmentation", "runner", "archive")

# Every problem status an ALT_LAS service answers with, and when.
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "Bad Request",
        "The request is ambiguous or malformed: two Authorization or two "
        "X-API-Key headers, both credentials at once, a form that does not parse.",
    ),
    401: (
        "Unauthorized",
        "No credential, or one that does not verify: expired, tampered, "
        "revoked, of an unknown key or issuer; a wrong password. The reason is not told.",
    ),
    403: (
        "Forbidden",
        "The caller is known but its role (or its API key's routes) does not allow this operation.",
    ),
    404: (
        "Not Found",
        "No such resource — or it belongs to another user: the answer is the "
        "same, so ids cannot be probed.",
    ),
    405: (
        "Method Not Allowed",
        "The path exists but not with this method; `Allow` lists the methods it has.",
    ),
    409: ("Conflict", "The resource is in a state that does not allow the change."),
    410: ("Gone", "A deprecated route after its sunset; `Link` names its successor."),
    415: ("Unsupported Media Type", "The body is not in the media type the operation takes."),
    422: (
        "Unprocessable Content",
        "The body or a parameter breaks the schema; `errors` lists each field with its message.",
    ),
    429: (
        "Too Many Requests",
        "A rate limit or the login throttle; wait `Retry-After` "
        "seconds (the `RateLimit-*` headers tell the budget).",
    ),
    500: (
        "Internal Server Error",
        "A bug. The `X-Correlation-ID` of the answer finds its log lines; please report it.",
    ),
    503: (
        "Service Unavailable",
        "A dependency (database, archive, broker, identity "
        "provider) does not answer; retry with back-off.",
    ),
}

# An example text for fields by name, where the schema gives none: Turkish first.
_NAMED: dict[str, Any] = {
    "command": "masaüstündeki raporları arşivle ve özetini çıkar",
    "username": "demo-user",
    "password": "demo-password",
    "persona": "analist",
    "q": "rapor",
    "name": "nightly-export",
    "status": "archived",
    "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFsdGxhcy0xIn0…",
    "refresh_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFsdGxhcy0xIn0…",
    "summary": "3 adım, 3 başarılı",
}

# Strings for the patterns the documents use, where a field's name gives none that matches.
_PATTERNS: dict[str, str] = {r"^s[0-9]+$": "s1", r"^/[^\x00]*$": "/api/v1/archive"}


def operations(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _resolve(schema: Mapping[str, Any], doc: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 20:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        schema, seen = node, seen + 1
    return schema


def example_for(
    schema: Mapping[str, Any], doc: Mapping[str, Any], name: str = "", depth: int = 0
) -> Any:
    """An instance of `schema`: its own example, else one built from types, formats, enums."""
    schema = _resolve(schema, doc)
    for key in ("example", "const", "default"):
        if key in schema and schema[key] is not None:
            return schema[key]
    if schema.get("examples"):
        found = schema["examples"]
        return found[0] if isinstance(found, list) else next(iter(found.values()), None)
    if schema.get("enum"):
        return schema["enum"][0]
    typed = "type" in schema or "properties" in schema
    for combined in ("oneOf", "anyOf", "allOf"):
        options = [o for o in schema.get(combined, []) if _resolve(o, doc).get("type") != "null"]
        if options and not typed:
            if combined == "allOf":
                merged: dict[str, Any] = {}
                for part in options:
                    value = example_for(part, doc, name, depth + 1)
                    if isinstance(value, dict):
                        merged.update(value)
                return merged
            return example_for(options[0], doc, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        props = schema.get("properties", {})
        required = set(schema.get("required", props))
        built = {
            key: example_for(sub, doc, key, depth + 1)
            for key, sub in props.items()
            if key in required or depth < 2
        }
        if "if" in schema:  # a conditional: the branch the example takes decides the rest
            matches = jsonschema.Draft202012Validator(dict(schema["if"])).is_valid(built)
            branch = _resolve(schema.get("then" if matches else "else", {}), doc)
            for key, sub in branch.get("properties", {}).items():
                if key in built or key in branch.get("required", ()):
                    built[key] = example_for(sub, doc, key, depth + 1)
        return built
    if kind == "array":
        return [example_for(schema.get("items", {}), doc, name, depth + 1)] if depth < 6 else []
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string" or not kind:
        fmt = schema.get("format", "")
        if fmt == "uuid":
            return "3f1c2a9e-5b7d-4e21-9a43-2c8f6d0b7e15"
        if fmt == "date-time":
            return "2026-12-02T09:30:00Z"
        if fmt == "date":
            return "2026-12-02"
        if fmt in ("uri", "url"):
            return "https://altlas.example/"
        text = str(_NAMED.get(name, name or "text"))
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, text):
            text = _PATTERNS.get(pattern, text)
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
        return (text * (low // max(len(text), 1) + 1))[: max(low, min(len(text), high))]
    return None


def request_example(op: Mapping[str, Any], doc: Mapping[str, Any]) -> tuple[str, Any] | None:
    body = _resolve(op.get("requestBody", {}), doc)
    for media, content in body.get("content", {}).items():
        return media, _media_example(content, doc)
    return None


def response_examples(op: Mapping[str, Any], doc: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for status, response in op.get("responses", {}).items():
        response = _resolve(response, doc)
        content = response.get("content", {})
        if not content:
            found[status] = None
            continue
        media, body = next(iter(content.items()))
        example = _media_example(body, doc)
        if "problem" in media and isinstance(example, dict) and str(status).isdigit():
            code = int(status)
            title, _ = ERRORS.get(code, ("Error", ""))
            example = {"type": "about:blank", "title": title, "status": code, "detail": "…"}
        found[status] = example
    return found


def _media_example(content: Mapping[str, Any], doc: Mapping[str, Any]) -> Any:
    if "example" in content:
        return content["example"]
    if content.get("examples"):
        first = next(iter(content["examples"].values()))
        return _resolve(first, doc).get("value")
    return example_for(content.get("schema", {}), doc)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _anchor(service: str, method: str, path: str) -> str:
    return f"{service}-{method}-" + re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-")


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _operation(service: str, method: str, path: str, op: dict[str, Any], doc: Any) -> str:
    anchor = _anchor(service, method, path)
    deprecated = op.get("deprecated", False)
    parts = [
        f'<section class="op{" deprecated" if deprecated else ""}" id="{_e(anchor)}"'
        f' data-method="{method.upper()}" data-path="{_e(path)}">',
        f'<h4><span class="method {method}">{method.upper()}</span> <code>{_e(path)}</code>'
        + (' <span class="badge">deprecated</span>' if deprecated else "")
        + "</h4>",
        f"<p>{_e(op.get('summary', ''))}</p>",
    ]
    if op.get("description"):
        parts.append(f'<p class="description">{_e(op["description"])}</p>')
    params = [_resolve(p, doc) for p in op.get("parameters", [])]
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p.get('name'))}</code></td><td>{_e(p.get('in'))}</td>"
            f"<td>{'yes' if p.get('required') else 'no'}</td>"
            f"<td>{_e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(
            "<table class=params><tr><th>parameter</th><th>in</th><th>required</th>"
            f"<th>about</th></tr>{rows}</table>"
        )
    request = request_example(op, doc)
    if request is not None:
        media, example = request
        shown = _json(example) if "json" in media else _form(example)
        parts.append(
            f'<h5>Request ({_e(media)})</h5><pre class="example request">{_e(shown)}</pre>'
        )
    for status, example in response_examples(op, doc).items():
        text = "(no body)" if example is None else _json(example)
        parts.append(
            f'<h5>Response {_e(status)}</h5><pre class="example response">{_e(text)}</pre>'
        )
    if service == "gateway":
        parts.append(_try_form(method, path, params, request))
    parts.append("</section>")
    return "\n".join(parts)


def _form(example: Any) -> str:
    if isinstance(example, dict):
        return "&".join(f"{k}={v}" for k, v in example.items())
    return str(example)


def _try_form(
    method: str, path: str, params: list[Mapping[str, Any]], request: tuple[str, Any] | None
) -> str:
    fields = []
    for p in params:
        where, name = p.get("in"), p.get("name", "")
        if where not in ("path", "query", "header"):
            continue
        value = ""
        if where == "header" and name.lower() == "idempotency-key":
            value = "(new)"
        fields.append(
            f'<label>{_e(name)} <small>({_e(where)})</small> <input name="{_e(where)}:{_e(name)}"'
            f' value="{_e(value)}"{" required" if p.get("required") else ""}></label>'
        )
    body = ""
    if request is not None:
        media, example = request
        shown = _json(example) if "json" in media else _form(example)
        body = (
            f'<label>body <small>({_e(media)})</small><textarea name="body" data-media='
            f'"{_e(media)}" rows="6">{_e(shown)}</textarea></label>'
        )
    return (
        f'<details class="try"><summary>Try it</summary><form class="try-it"'
        f' data-method="{method.upper()}" data-path="{_e(path)}">{"".join(fields)}{body}'
        '<button type="submit">Send</button><pre class="answer" aria-live="polite"></pre>'
        "</form></details>"
    )


def _guide() -> str:
    steps = [
        (
            "Log in",
            "POST /api/v1/auth/login",
            '{"username": "demo-user", "password": "…"}',
            "200 with access_token (Bearer, 15 minutes) and refresh_token (once each).",
        ),
        (
            "Submit a command",
            "POST /api/v1/commands  Authorization: Bearer …  Idempotency-Key: …",
            '{"command": "masaüstündeki raporları arşivle"}',
            "202 with command_id; the same Idempotency-Key again returns the same command.",
        ),
        (
            "Follow it",
            "GET /api/v1/commands/{command_id}",
            "",
            "status: accepted → segmented → executed → archived (final), or failed; "
            "send If-None-Match with the last ETag to get 304 until it moves.",
        ),
        (
            "Search the archive",
            "GET /api/v1/archive/search?q=rapor&size=20",
            "",
            "hits, total and facets over the whole result set; page with `page`.",
        ),
    ]
    items = "".join(
        f"<li><b>{_e(t)}</b>: <code>{_e(call)}</code>"
        + (f" <code>{_e(body)}</code>" if body else "")
        + f"<br>{_e(then)}</li>"
        for t, call, body, then in steps
    )
    return (
        '<section id="getting-started"><h2>Getting started</h2><ol>'
        f"{items}</ol><p>Every error is <code>application/problem+json</code> (RFC 9457) with "
        "<code>title</code>, <code>status</code> and <code>detail</code>; see the "
        '<a href="#errors">error catalogue</a>. Scripts may use an API key instead of a login '
        "(<code>POST /api/v1/api-keys</code>, then <code>X-API-Key</code>).</p></section>"
    )


def _catalogue() -> str:
    rows = "".join(
        f'<tr id="error-{code}"><td>{code}</td><td>{_e(title)}</td><td>{_e(when)}</td></tr>'
        for code, (title, when) in sorted(ERRORS.items())
    )
    return (
        '<section id="errors"><h2>Error catalogue</h2><table class=errors>'
        f"<tr><th>status</th><th>title</th><th>when</th></tr>{rows}</table></section>"
    )


def _changelog() -> str:
    entries = "".join(
        f"<li><b>{_e(c.version)}</b> ({_e(c.date)})<ul>"
        + "".join(f"<li>{_e(i)}</li>" for i in c.items)
        + "</ul></li>"
        for c in CHANGELOG
    )
    return (
        '<section id="changelog"><h2>Changelog and deprecation policy</h2>'
        "<p>A route of <code>/api/v1</code> never changes incompatibly. One to be removed is "
        f"deprecated at least {MIN_NOTICE.days} days before its sunset: meanwhile its answers "
        "carry <code>Deprecation</code> (RFC 9745), <code>Sunset</code> (RFC 8594) and a "
        "<code>Link</code> to its successor, and the OpenAPI document flags it; after the "
        "sunset it answers 410.</p>"
        f"<ul class=changelog>{entries}</ul></section>"
    )


def render(documents: Mapping[str, Mapping[str, Any] | str], nonce: str) -> str:
    """The page. `documents` maps a service to its OpenAPI document, or to why it is missing."""
    nav, body = [], []
    for service in SERVICES:
        doc = documents.get(service, "not configured")
        if isinstance(doc, str):
            nav.append(f"<li>{_e(service)} <small>(unavailable)</small></li>")
            body.append(
                f'<section class="service" id="{service}"><h2>{_e(service)}</h2>'
                f'<p class="missing">The document is not available: {_e(doc)}</p></section>'
            )
            continue
        ops = list(operations(doc))
        info = doc.get("info", {})
        nav.append(f'<li><a href="#{service}">{_e(service)}</a> <small>({len(ops)})</small></li>')
        body.append(
            f'<section class="service" id="{service}"><h2>{_e(info.get("title", service))} '
            f"<small>{_e(info.get('version', ''))}</small></h2>"
            f"<p>{_e(info.get('description', ''))}</p>"
            + "".join(_operation(service, m, p, op, doc) for m, p, op in ops)
            + "</section>"
        )
    return _PAGE.format(
        nonce=nonce,
        nav="".join(nav),
        guide=_guide(),
        services="".join(body),
        errors=_catalogue(),
        changelog=_changelog(),
        script=_SCRIPT,
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ALT_LAS API portal</title>
<link rel="icon" href="data:,">
<style nonce="{nonce}">
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 0; display: flex; color: #1d2430; }}
nav {{ width: 15rem; padding: 1rem; background: #f3f5f8; height: 100vh; position: sticky;
  top: 0; overflow: auto; flex-shrink: 0; }}
main {{ padding: 1rem 2rem; max-width: 60rem; }}
pre {{ background: #f6f8fa; padding: .6rem; overflow: auto; font-size: 13px; }}
.op {{ border-top: 1px solid #dde2ea; padding: .4rem 0; }}
.method {{ font: bold 12px monospace; padding: 2px 6px; border-radius: 3px; color: #fff;
  background: #5b6b82; }}
.get {{ background: #2f7d4f; }} .post {{ background: #2d5fa8; }} .patch {{ background: #a86b1d; }}
.delete {{ background: #a83232; }} .badge {{ background: #ffd9a8; padding: 0 6px; }}
.deprecated h4 code {{ text-decoration: line-through; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #dde2ea; padding: 2px 6px; text-align: left; vertical-align: top; }}
label {{ display: block; margin: .3rem 0; }} textarea {{ width: 100%; font: 13px monospace; }}
#session {{ background: #eef3ff; padding: .6rem; }}
</style></head>
<body><nav><b>ALT_LAS API</b><ul>
<li><a href="#getting-started">Getting started</a></li>{nav}
<li><a href="#errors">Errors</a></li><li><a href="#changelog">Changelog</a></li></ul></nav>
<main><h1>ALT_LAS API portal</h1>
<form id="session"><b>Try it as</b> <input name="username" placeholder="username"
 autocomplete="username"> <input name="password" type="password" placeholder="password"
 autocomplete="current-password"> <button type="submit">Log in</button>
 <span id="who">not logged in</span></form>
{guide}{services}{errors}{changelog}</main>
<script nonce="{nonce}">{script}</script></body></html>
"""

_SCRIPT = """
const token = () => sessionStorage.getItem("altlas-token") || "";
document.getElementById("session").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const r = await fetch("/api/v1/auth/login", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username: f.get("username"), password: f.get("password")})});
  const who = document.getElementById("who");
  if (r.ok) {
    sessionStorage.setItem("altlas-token", (await r.json()).access_token);
    who.textContent = "logged in as " + f.get("username");
  } else {
    who.textContent = "login failed: " + r.status + " " + (await r.text());
  }
});
for (const form of document.querySelectorAll("form.try-it")) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = form.querySelector(".answer");
    let path = form.dataset.path;
    const query = new URLSearchParams();
    const headers = {};
    if (token()) headers["Authorization"] = "Bearer " + token();
    for (const input of form.querySelectorAll("input")) {
      const [where, name] = input.name.split(/:(.*)/s);
      let value = input.value;
      if (value === "(new)") value = crypto.randomUUID();
      if (!value) continue;
      if (where === "path") path = path.replace("{" + name + "}", encodeURIComponent(value));
      else if (where === "query") query.append(name, value);
      else if (where === "header") headers[name] = value;
    }
    const init = {method: form.dataset.method, headers};
    const body = form.querySelector("textarea[name=body]");
    if (body) { headers["Content-Type"] = body.dataset.media; init.body = body.value; }
    const url = path + (query.toString() ? "?" + query : "");
    out.textContent = "…";
    try {
      const r = await fetch(url, init);
      const text = await r.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
      out.textContent = r.status + " " + r.statusText + "\\n" + shown;
      out.dataset.status = String(r.status);
    } catch (err) {
      out.textContent = "request failed: " + err;
      out.dataset.status = "error";
    }
  });
}
"""
