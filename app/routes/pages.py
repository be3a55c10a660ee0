"""The HTML pages: the text lens, the ink pad and the frameable embed."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.deps import SettingsDep
from app.settings import TEMPLATES

PAGES = ("/", "/ink", "/embed")        # the paths that get the pages' Content-Security-Policy
templates = Jinja2Templates(directory=str(TEMPLATES))
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/")
def text_page(request: Request, settings: SettingsDep):
    return templates.TemplateResponse(request, "text.html", {
        "page": "text", "default_model": settings.default_model, "max_chars": settings.max_text_chars})


@router.get("/ink")
def ink_page(request: Request, settings: SettingsDep):
    return templates.TemplateResponse(request, "ink.html", {
        "page": "ink", "max_points": settings.max_points, "max_strokes": settings.max_strokes})


@router.get("/embed")
def embed_page(request: Request, settings: SettingsDep):
    return templates.TemplateResponse(request, "embed.html", {"default_model": settings.default_model})
