"""Template helpers of the dashboard: times, durations, property values, states and links."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import template
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.html import format_html

register = template.Library()

_STATE_CLASSES = {
    "FAILED": "state-failed",
    "RUNNING": "state-running",
    "NEW": "state-running",
    "COMPLETE": "state-ok",
    "LIVE": "state-ok",
    "CACHED": "state-cached",
    "CANCELED": "state-gone",
    "DELETED": "state-gone",
    "ABANDONED": "state-gone",
    "MARKED_FOR_DELETION": "state-gone",
    "PENDING": "state-running",
}


@register.filter
def ms_time(value: int | None) -> str:
    """Milliseconds since the epoch as a UTC date and time ('' for 0 or None)."""
    if not value:
        return ""
    try:
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@register.filter
def duration(value: int | None) -> str:
    """Milliseconds as a short human duration."""
    if value is None:
        return ""
    seconds = value / 1000
    if seconds < 1:
        return f"{value} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def value(data: Any) -> str:
    """A property value for display: JSON for structures, plain text otherwise."""
    if data is None:
        return ""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, float):
        return f"{data:.6g}"
    if isinstance(data, (dict, list)):
        return json.dumps(data, sort_keys=True, separators=(", ", ": "))
    return str(data)


@register.filter
def prop(row: Any, name: str) -> Any:
    """``row|prop:"name"``: a node row's property (declared first, then custom)."""
    return row.property(name)


@register.filter
def state_class(state: str) -> str:
    return _STATE_CLASSES.get(state or "", "state-other")


@register.simple_tag
def state_badge(state: str) -> str:
    if not state:
        return ""
    return format_html('<span class="badge {}">{}</span>', state_class(state), state)


_SENTINEL = "987654321"
_url_patterns: dict[tuple[str, str], str] = {}


def _fast_reverse(name: str, object_id: int) -> str:
    """``reverse(name, args=[object_id])`` for pages keyed by one id, one real ``reverse`` per name and prefix.

    Tables link every row to its node and type; a full ``reverse`` per link was a
    good part of a page's time.
    """
    key = (name, get_script_prefix())
    pattern = _url_patterns.get(key)
    if pattern is None:
        pattern = _url_patterns[key] = reverse(name, args=[int(_SENTINEL)])
    return pattern.replace(_SENTINEL, str(int(object_id)), 1)


@register.filter
def node_url(row: Any) -> str:
    return _fast_reverse(f"lineage_ui:{row.kind}", row.id)


@register.filter
def type_url(type_ref: Any) -> str:
    return _fast_reverse(f"lineage_ui:{type_ref.kind}_type", type_ref.id)


_ADMIN_MODELS = {"artifact": "artifacttype", "execution": "executiontype", "context": "contexttype"}


@register.simple_tag(takes_context=True)
def admin_url(context: template.Context, model: str, object_id: int | None = None) -> str:
    """The admin change page of an object, or the admin index; '' for non-staff or when the admin lacks the URL."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_staff:
        return ""
    try:
        if model == "index":
            return reverse("admin:index")
        return reverse(f"admin:store_{model}_change", args=[object_id])
    except NoReverseMatch:
        return ""


@register.simple_tag(takes_context=True)
def admin_type_url(context: template.Context, type_ref: Any) -> str:
    return admin_url(context, _ADMIN_MODELS[type_ref.kind], type_ref.id)


@register.filter
def kind_plural(kind: str) -> str:
    return f"{kind}s"


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def caret_at(position: int | None) -> str:
    """A caret under the given 0-based column (for pointing at a syntax error)."""
    return " " * max(int(position or 0), 0) + "^"
