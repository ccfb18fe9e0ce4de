"""``/docs`` without a CDN: FastAPI's Swagger UI loads its scripts from the internet and shows
nothing offline, so the batch API serves this self-contained page (no JavaScript) instead,
rendered from the same OpenAPI schema (``/openapi.json``)."""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from fastapi.responses import HTMLResponse


def docs_html(schema: dict) -> str:
    rows = []
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            inputs = ", ".join(x for x in (params, "JSON body" if "requestBody" in op else "") if x)
            rows.append(f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                        f"<td>{escape(op.get('summary', ''))}</td><td>{escape(inputs)}</td></tr>")
    info = schema.get("info", {})
    return (f"<!doctype html><meta charset='utf-8'><title>{escape(info.get('title', 'API'))}</title>"
            "<style>body{font:14px sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left;"
            "border-bottom:1px solid #ddd}</style>"
            f"<h1>{escape(info.get('title', 'API'))} {escape(str(info.get('version', '')))}</h1>"
            f"<p>{escape(info.get('description', ''))}</p>"
            "<p>Full schema (OpenAPI): <a href='/openapi.json'>/openapi.json</a>. This page works offline.</p>"
            "<table><tr><th>method</th><th>path</th><th>what</th><th>inputs</th></tr>" + "".join(rows) + "</table>")


def add_offline_docs(app: FastAPI) -> None:
    """Serve :func:`docs_html` at ``/docs`` (create the app with ``docs_url=None``)."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_html(app.openapi()))
