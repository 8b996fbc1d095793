"""Post admin forms the way a browser would: start from the rendered page's values."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.http import HttpResponse


def _form_values(form: forms.BaseForm) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(field, forms.NullBooleanField):
            data[key] = {None: "unknown", True: "true", False: "false"}.get(value, "unknown")
        elif isinstance(field, forms.BooleanField):
            if value:
                data[key] = "on"
        elif value is None:
            data[key] = ""
        elif isinstance(value, (list, tuple)):
            data[key] = [str(item) for item in value]
        else:
            data[key] = str(value)
    return data


def changeform_data(response: HttpResponse) -> dict[str, Any]:
    """The POST data that saves an admin add/change page unchanged.

    Inline formsets keep their existing rows and drop the blank extra ones, so a
    test adds exactly the rows it means with ``add_inline_row``.
    """
    context = response.context  # type: ignore[attr-defined]
    data = _form_values(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        formset = inline.formset
        initial = formset.initial_form_count()
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(initial)
        data[f"{formset.prefix}-INITIAL_FORMS"] = str(initial)
        data[f"{formset.prefix}-MIN_NUM_FORMS"] = "0"
        data[f"{formset.prefix}-MAX_NUM_FORMS"] = "1000"
        for form in formset.forms[:initial]:
            data.update(_form_values(form))
    data["_save"] = "Save"
    return data


def inline_prefix(response: HttpResponse, model: type[models.Model]) -> str:
    for inline in response.context["inline_admin_formsets"]:  # type: ignore[attr-defined]
        if inline.formset.model is model:
            return str(inline.formset.prefix)
    raise LookupError(f"no inline of {model.__name__} on this page")


def inline_row_index(data: dict[str, Any], prefix: str, field: str, value: Any) -> int:
    """The index of the existing inline row whose ``field`` is ``value``."""
    for index in range(int(data[f"{prefix}-TOTAL_FORMS"])):
        if data.get(f"{prefix}-{index}-{field}") == str(value):
            return index
    raise LookupError(f"no row with {field}={value!r} in {prefix}")


def add_inline_row(data: dict[str, Any], prefix: str, **fields: Any) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in fields.items():
        key = f"{prefix}-{index}-{name}"
        if value is True:
            data[key] = "on"
        elif value is False or value is None:
            continue
        else:
            data[key] = str(value)
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)


def error_text(response: HttpResponse) -> str:
    """Every error the admin page shows: form, inline and message errors, as one string."""
    context = response.context  # type: ignore[attr-defined]
    parts: list[str] = []
    if context is not None and "adminform" in context:
        form = context["adminform"].form
        parts += [str(e) for errors in form.errors.values() for e in errors]
        for inline in context["inline_admin_formsets"]:
            formset = inline.formset
            parts += [str(e) for e in formset.non_form_errors()]
            for errors in formset.errors:
                parts += [str(e) for field_errors in errors.values() for e in field_errors]
    return "\n".join(parts)
