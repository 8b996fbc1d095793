"""The Django admin over the metadata store.

Staff browse every entity here and edit what MLMD lets people edit by hand:
the description and declared properties of types, and the name, properties,
parent contexts and members of contexts.  An edit that would break the store
is refused with a form error or an admin message, never a server error: the
checks live in ``store.validation`` so that the services apply the same ones.

Lists stay cheap on large stores: foreign keys are selected with the rows,
counts are annotated in the list query, and inline rows name their related
node from the same query instead of one query per row.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError
from django.db import models, router
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet, InlineForeignKeyField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from store import (
    admin_graphs,  # noqa: F401 -- registers the drawing-job and drawing pages
    validation,
)
from store.admin_types_import import TypesImportAdminMixin
from store.choices import BASE_TYPE_CHOICES, PropertyType, TypeKind
from store.models import (
    Artifact,
    ArtifactProperty,
    ArtifactType,
    Association,
    Attribution,
    Context,
    ContextProperty,
    ContextType,
    Event,
    Execution,
    ExecutionProperty,
    ExecutionType,
    ParentContext,
    ParentType,
    Type,
    TypeProperty,
)

admin.site.site_header = "ML metadata store"
admin.site.site_title = "ML metadata store admin"
admin.site.index_title = "Metadata store administration"

PROXY_KIND: dict[type[Type], TypeKind] = {
    ArtifactType: TypeKind.ARTIFACT,
    ExecutionType: TypeKind.EXECUTION,
    ContextType: TypeKind.CONTEXT,
}
NODE_ADMIN_URL = {TypeKind.ARTIFACT: "artifact", TypeKind.EXECUTION: "execution", TypeKind.CONTEXT: "context"}


def _ms_to_datetime(ms: int | None) -> dt.datetime | None:
    """MLMD's milliseconds since the epoch as an aware datetime (0 means unset)."""
    if not ms:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _count_of(model: type[models.Model], fk: str) -> Coalesce:
    """A correlated subquery counting ``model`` rows whose ``fk`` is the outer row."""
    rows = (
        model._default_manager.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(rows, output_field=models.IntegerField()), 0)


# ---------------------------------------------------------------------------
# Shared form and admin machinery
# ---------------------------------------------------------------------------


class ConstraintCheckingForm(forms.ModelForm):
    """A model form that also checks unique constraints on fields it does not show.

    Django skips a constraint when one of its fields is not on the form (a
    type's kind, a node's read-only type, an inline's foreign key); the database
    would then refuse the row with an IntegrityError and the admin would answer
    500.  Here the skipped constraints are checked against the instance's values.
    """

    def _post_clean(self) -> None:
        super()._post_clean()
        skipped = set(self._get_validation_exclusions())
        skipped.update(name for name, field in self.fields.items() if isinstance(field, InlineForeignKeyField))
        failed = set(self._errors or {})
        using = router.db_for_write(type(self.instance), instance=self.instance)
        # get_constraints() includes the concrete model's, which a proxy's _meta lacks.
        for model, constraints in self.instance.get_constraints():
            for constraint in constraints:
                fields = set(getattr(constraint, "fields", ()) or ())
                if not isinstance(constraint, models.UniqueConstraint) or not fields:
                    continue
                if not fields & skipped or fields & failed:
                    continue  # Django checked it already, or a field of it is already in error
                try:
                    constraint.validate(model, self.instance, using=using)
                except ValidationError as exc:
                    self.add_error(None, exc)


class IdLinkRawIdWidget(ForeignKeyRawIdWidget):
    """A raw-id input whose label is the id and a link, without loading the object.

    The stock widget loads every referenced row with its own query, so an
    inline of a thousand members cost a thousand queries; the row's name is
    shown by a read-only column fed by ``select_related`` instead.
    """

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        meta = self.rel.model._meta
        try:
            url = reverse(f"{self.admin_site.name}:{meta.app_label}_{meta.model_name}_change", args=(value,))
        except NoReverseMatch:
            url = ""
        return f"{meta.verbose_name} {value}", url


class StoreAdminMixin:
    """Admin defaults for the store: empty text means unset (NULL), as in MLMD."""

    def formfield_for_dbfield(self, db_field: models.Field, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        if isinstance(db_field, models.TextField) and db_field.null and isinstance(field, forms.CharField):
            field.empty_value = None
        return field


class CheapRawIdMixin:
    """Inline rows with raw-id inputs that cost no query per row (see IdLinkRawIdWidget)."""

    raw_id_fields: tuple[str, ...] = ()
    admin_site: admin.AdminSite

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in self.raw_id_fields and "widget" not in kwargs:
            kwargs["widget"] = IdLinkRawIdWidget(db_field.remote_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


def _admin_link(obj: models.Model | None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=(obj.pk,))
    return format_html('<a href="{}">{}</a>', url, obj)


def _search_ids(search_term: str, *fields: str) -> Q | None:
    """A filter matching rows whose ``fields`` equal a numeric search term (None when not numeric)."""
    term = search_term.strip()
    if not term.isdigit() or len(term) > 18:  # ids are 64-bit: a longer number is no id
        return None
    query = Q()
    for field in fields:
        query |= Q(**{field: int(term)})
    return query


class NumericIdSearchMixin:
    """Lets the search box find rows by id: a number matches ``id_search_fields`` exactly (indexed)."""

    id_search_fields: tuple[str, ...] = ("pk",)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        by_id = _search_ids(search_term, *self.id_search_fields)
        if by_id is not None:
            found = found | queryset.filter(by_id)
        return found, may_have_duplicates


# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------


class TypeForm(ConstraintCheckingForm):
    """A type of one kind: the kind comes from the proxy model, base types from the kind."""

    base_type = forms.TypedChoiceField(coerce=int, choices=(), initial=0, label="Base type")

    class Meta:
        model = Type
        fields = ("name", "version", "base_type", "description", "external_id")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = PROXY_KIND[self._meta.model]
        if self.instance.kind is None:
            self.instance.kind = kind
        self.fields["base_type"].choices = BASE_TYPE_CHOICES[kind].choices


class TypePropertyForm(forms.ModelForm):
    class Meta:
        model = TypeProperty
        fields = ("name", "data_type")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "data_type" in self.fields:
            self.fields["data_type"].choices = [c for c in PropertyType.choices if c[0] != PropertyType.UNKNOWN]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("name")
        if name and "name" in self.changed_data and self.instance.type_id is not None:
            problem = validation.declaration_shadows_custom(self.instance.type, name)
            if problem:
                self.add_error("name", problem)
        if self.instance.pk is None:
            return data
        if "name" in self.changed_data and name:
            problem = validation.property_removal_blocked(self.instance)
            if problem:
                self.add_error("name", problem)
        if "data_type" in self.changed_data and data.get("data_type") is not None:
            problem = validation.property_type_change_blocked(self.instance, data["data_type"])
            if problem:
                self.add_error("data_type", problem)
        return data


class TypePropertyFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        problems = []
        for form in self.deleted_forms:
            if form.instance.pk is not None:
                problem = validation.property_removal_blocked(form.instance)
                if problem:
                    problems.append(problem)
        if problems:
            raise ValidationError(problems)


class TypePropertyInline(admin.TabularInline):
    model = TypeProperty
    form = TypePropertyForm
    formset = TypePropertyFormSet
    extra = 1
    verbose_name = "declared property"
    verbose_name_plural = "declared properties"


class ParentTypeFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not form.has_changed():
                continue
            parent = data.get("parent")
            if parent is None or parent.pk == self.instance.pk:
                continue  # the model's own clean() reports a self-parent
            problem = validation.parent_type_problem(self.instance, parent, ignore_link_id=form.instance.pk)
            if problem:
                form.add_error("parent", problem)


class ParentTypeInline(admin.TabularInline):
    model = ParentType
    fk_name = "type"
    formset = ParentTypeFormSet
    extra = 0
    verbose_name = "parent type"
    verbose_name_plural = "parent types"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ParentType]:
        return super().get_queryset(request).select_related("parent")

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "parent":
            kwargs["queryset"] = Type.objects.of_kind(PROXY_KIND[self.parent_model]).order_by("name", "version")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.action(description="Delete selected %(verbose_name_plural)s", permissions=["delete"])
def delete_selected_unused_types(modeladmin: TypeAdmin, request: HttpRequest, queryset: QuerySet[Type]) -> Any:
    """Django's bulk delete, refused (with the reason) while a selected type still has instances."""
    blocked = [row for row in queryset if row.instance_count]
    if blocked:
        for row in blocked:
            modeladmin.message_user(request, validation.type_deletion_blocked(row) or "", messages.ERROR)
        modeladmin.message_user(request, "Nothing was deleted.", messages.ERROR)
        return None
    return delete_selected(modeladmin, request, queryset)


class TypeAdmin(TypesImportAdminMixin, StoreAdminMixin, NumericIdSearchMixin, admin.ModelAdmin):
    """One kind of type; subclasses name the proxy model and its nodes.

    The change list links to the Import types / Export types pages (TypesImportAdminMixin).
    """

    node_model: type[models.Model]
    form = TypeForm
    inlines = (TypePropertyInline, ParentTypeInline)
    list_display = ("name", "version_label", "base_type_label", "property_count", "instance_count", "external_id")
    list_display_links = ("name",)
    search_fields = ("name", "version", "=external_id", "description")
    ordering = ("name", "version")
    save_on_top = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Type]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                property_count=_count_of(TypeProperty, "type"),
                instance_count=_count_of(self.node_model, "type"),
            )
        )

    def get_fields(self, request: HttpRequest, obj: Type | None = None) -> list[str]:
        fields = ["name", "version", "base_type", "description", "external_id"]
        return [*fields, "instances"] if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Type | None = None) -> tuple[str, ...]:
        # A type is found by name and version: renaming one would make every client
        # that records into it create a new type instead.
        return ("name", "version", "instances") if obj is not None else ()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            actions["delete_selected"] = (
                delete_selected_unused_types,
                "delete_selected",
                delete_selected_unused_types.short_description,  # type: ignore[attr-defined]
            )
        return actions

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj):
            problem = validation.type_deletion_blocked(obj)
            if problem:
                self.message_user(request, problem, messages.ERROR)
                meta = self.opts
                return HttpResponseRedirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=(obj.pk,)))
        return super().delete_view(request, object_id, extra_context)

    @admin.display(description="version", ordering="version")
    def version_label(self, obj: Type) -> str:
        return obj.version or "-"

    @admin.display(description="base type", ordering="base_type")
    def base_type_label(self, obj: Type) -> str:
        choices = BASE_TYPE_CHOICES[TypeKind(obj.kind)]
        try:
            return str(choices(obj.base_type).label)
        except ValueError:
            return f"unknown ({obj.base_type})"

    @admin.display(description="properties", ordering="property_count")
    def property_count(self, obj: Type) -> int:
        return obj.property_count  # type: ignore[attr-defined]

    @admin.display(description="instances", ordering="instance_count")
    def instance_count(self, obj: Type) -> int:
        return obj.instance_count  # type: ignore[attr-defined]

    @admin.display(description="instances")
    def instances(self, obj: Type) -> str:
        count = getattr(obj, "instance_count", None)
        if count is None:
            count = validation.instance_count(obj)
        url = reverse(f"admin:store_{NODE_ADMIN_URL[TypeKind(obj.kind)]}_changelist") + f"?type__id__exact={obj.pk}"
        noun = self.node_model._meta.verbose_name if count == 1 else self.node_model._meta.verbose_name_plural
        return format_html('<a href="{}">{} {}</a>', url, count, noun)


@admin.register(ArtifactType)
class ArtifactTypeAdmin(TypeAdmin):
    node_model = Artifact


@admin.register(ExecutionType)
class ExecutionTypeAdmin(TypeAdmin):
    node_model = Execution


@admin.register(ContextType)
class ContextTypeAdmin(TypeAdmin):
    node_model = Context


# ---------------------------------------------------------------------------
# Property values of nodes
# ---------------------------------------------------------------------------


class PropertyValueFormSet(BaseInlineFormSet):
    """Property rows of one node, checked against the declarations of the node's type."""

    def clean(self) -> None:
        super().clean()
        type_id = getattr(self.instance, "type_id", None)
        if type_id is None:
            return  # the node's own form reports the missing type
        declared = validation.declared_properties(type_id)
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not form.has_changed() or not data.get("name"):
                continue
            values = {field: data.get(field) for field in validation.VALUE_FIELD_FOR_TYPE.values() if field in data}
            # Proto values are bytes and cannot be typed in a form: they stay as stored.
            values["proto_value"] = form.instance.proto_value
            values["proto_type_url"] = form.instance.proto_type_url
            problem = validation.property_value_problem(
                type_id, data["name"], bool(data.get("is_custom")), values, declared=declared
            )
            if problem:
                form.add_error(None, problem)


class PropertyValueForm(ConstraintCheckingForm):
    string_value = forms.CharField(
        required=False, empty_value=None, strip=False, widget=forms.TextInput(attrs={"size": 30}), label="String value"
    )


class PropertyValueInline(admin.TabularInline):
    form = PropertyValueForm
    formset = PropertyValueFormSet
    fields = ("name", "is_custom", "int_value", "double_value", "string_value", "bool_value", "struct_value", "proto")
    readonly_fields = ("proto",)
    extra = 1
    ordering = ("is_custom", "name")
    verbose_name = "property"
    verbose_name_plural = "properties (declared and custom)"

    @admin.display(description="proto value")
    def proto(self, obj: Any) -> str:
        if obj is None or (obj.proto_value is None and obj.proto_type_url is None):
            return "-"
        return f"{obj.proto_type_url or '(no type url)'} · {len(obj.proto_value or b'')} bytes"


class ArtifactPropertyInline(PropertyValueInline):
    model = ArtifactProperty


class ExecutionPropertyInline(PropertyValueInline):
    model = ExecutionProperty


class ContextPropertyInline(PropertyValueInline):
    model = ContextProperty


# ---------------------------------------------------------------------------
# Artifacts, executions, contexts
# ---------------------------------------------------------------------------


class TypeOfKindListFilter(admin.RelatedFieldListFilter):
    """The type filter of a node list offers only types of that node's kind."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        kind = model_admin.model.type_kind  # type: ignore[attr-defined]
        return [(row.pk, str(row)) for row in Type.objects.of_kind(kind).order_by("name", "version")]


class NodeAdmin(StoreAdminMixin, NumericIdSearchMixin, admin.ModelAdmin):
    """Shared by artifacts, executions and contexts."""

    form = ConstraintCheckingForm
    list_select_related = ("type",)
    list_per_page = 50
    show_full_result_count = False  # no second COUNT(*) over a large table
    ordering = ("-id",)
    save_on_top = True
    search_fields: tuple[str, ...] = ("name", "=external_id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Declared properties belong to the type, so an existing node keeps its type.
        readonly = ("id", "created", "last_updated", "events")
        return ("type", *readonly) if obj is not None else readonly

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "type":
            kwargs["queryset"] = Type.objects.of_kind(self.model.type_kind).order_by("name", "version")  # type: ignore[attr-defined]
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        now = _now_ms()
        if not change:
            obj.create_time_since_epoch = now
        obj.last_update_time_since_epoch = now
        super().save_model(request, obj, form, change)

    @admin.display(description="created", ordering="create_time_since_epoch")
    def created(self, obj: Any) -> dt.datetime | None:
        return _ms_to_datetime(obj.create_time_since_epoch)

    @admin.display(description="last updated", ordering="last_update_time_since_epoch")
    def last_updated(self, obj: Any) -> dt.datetime | None:
        return _ms_to_datetime(obj.last_update_time_since_epoch)

    @admin.display(description="events")
    def events(self, obj: Any) -> str:
        if obj is None or obj.pk is None or not hasattr(obj, "events"):
            return "-"
        url = reverse("admin:store_event_changelist") + f"?{self.model._meta.model_name}__id__exact={obj.pk}"
        return format_html('<a href="{}">events of this {}</a>', url, self.model._meta.verbose_name)


@admin.register(Artifact)
class ArtifactAdmin(NodeAdmin):
    list_display = ("id", "name", "type", "uri", "state", "created", "last_updated")
    list_display_links = ("id", "name")
    list_filter = (("type", TypeOfKindListFilter), "state")
    search_fields = ("name", "uri", "=external_id")
    fields = ("id", "type", "name", "uri", "state", "external_id", "created", "last_updated", "events")
    inlines = (ArtifactPropertyInline,)


@admin.register(Execution)
class ExecutionAdmin(NodeAdmin):
    list_display = ("id", "name", "type", "last_known_state", "created", "last_updated")
    list_display_links = ("id", "name")
    list_filter = (("type", TypeOfKindListFilter), "last_known_state")
    fields = ("id", "type", "name", "last_known_state", "external_id", "created", "last_updated", "events")
    inlines = (ExecutionPropertyInline,)


class ParentContextFormSet(BaseInlineFormSet):
    """The parent contexts of one context: none may make the context its own ancestor."""

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not form.has_changed():
                continue
            parent = data.get("parent")
            if parent is None or parent.pk == self.instance.pk:
                continue  # the model's own clean() reports a self-parent
            problem = validation.parent_context_problem(self.instance, parent, ignore_link_id=form.instance.pk)
            if problem:
                form.add_error("parent", problem)


class ParentContextInline(CheapRawIdMixin, admin.TabularInline):
    model = ParentContext
    fk_name = "context"
    formset = ParentContextFormSet
    form = ConstraintCheckingForm
    raw_id_fields = ("parent",)
    fields = ("parent", "parent_name")
    readonly_fields = ("parent_name",)
    extra = 0
    verbose_name = "parent context"
    verbose_name_plural = "parent contexts"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ParentContext]:
        return super().get_queryset(request).select_related("parent")

    @admin.display(description="name")
    def parent_name(self, obj: ParentContext) -> str:
        return _admin_link(obj.parent) if obj and obj.parent_id else "-"


class AttributionInline(CheapRawIdMixin, admin.TabularInline):
    model = Attribution
    form = ConstraintCheckingForm
    raw_id_fields = ("artifact",)
    fields = ("artifact", "artifact_name")
    readonly_fields = ("artifact_name",)
    extra = 0
    verbose_name = "artifact (attribution)"
    verbose_name_plural = "artifacts in this context (attributions)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attribution]:
        return super().get_queryset(request).select_related("artifact")

    @admin.display(description="name")
    def artifact_name(self, obj: Attribution) -> str:
        return _admin_link(obj.artifact) if obj and obj.artifact_id else "-"


class AssociationInline(CheapRawIdMixin, admin.TabularInline):
    model = Association
    form = ConstraintCheckingForm
    raw_id_fields = ("execution",)
    fields = ("execution", "execution_name")
    readonly_fields = ("execution_name",)
    extra = 0
    verbose_name = "execution (association)"
    verbose_name_plural = "executions in this context (associations)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Association]:
        return super().get_queryset(request).select_related("execution")

    @admin.display(description="name")
    def execution_name(self, obj: Association) -> str:
        return _admin_link(obj.execution) if obj and obj.execution_id else "-"


@admin.register(Context)
class ContextAdmin(NodeAdmin):
    list_display = ("id", "name", "type", "created", "last_updated")
    list_display_links = ("id", "name")
    list_filter = (("type", TypeOfKindListFilter),)
    fields = ("id", "type", "name", "external_id", "created", "last_updated", "child_contexts")
    inlines = (ContextPropertyInline, ParentContextInline, AttributionInline, AssociationInline)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "child_contexts")

    @admin.display(description="child contexts")
    def child_contexts(self, obj: Context | None) -> str:
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:store_parentcontext_changelist") + f"?parent__id__exact={obj.pk}"
        return format_html('<a href="{}">contexts whose parent is this one</a>', url)


# ---------------------------------------------------------------------------
# Edges: events, attributions, associations, parent contexts
# ---------------------------------------------------------------------------


@admin.register(Event)
class EventAdmin(StoreAdminMixin, NumericIdSearchMixin, admin.ModelAdmin):
    form = ConstraintCheckingForm
    list_display = ("id", "execution", "artifact", "type", "time")
    list_display_links = ("id",)
    list_filter = ("type",)
    list_select_related = ("artifact", "execution")
    raw_id_fields = ("artifact", "execution")
    search_fields = ("artifact__name", "execution__name", "artifact__uri")
    id_search_fields = ("pk", "artifact_id", "execution_id")
    fields = ("execution", "artifact", "type", "milliseconds_since_epoch", "time", "path")
    readonly_fields = ("time",)
    ordering = ("-id",)
    list_per_page = 100
    show_full_result_count = False
    save_on_top = True

    @admin.display(description="time", ordering="milliseconds_since_epoch")
    def time(self, obj: Event) -> dt.datetime | None:
        return _ms_to_datetime(obj.milliseconds_since_epoch)


class MembershipAdmin(StoreAdminMixin, NumericIdSearchMixin, admin.ModelAdmin):
    form = ConstraintCheckingForm
    list_per_page = 100
    show_full_result_count = False
    ordering = ("-id",)
    save_on_top = True


@admin.register(Attribution)
class AttributionAdmin(MembershipAdmin):
    list_display = ("id", "context", "artifact")
    list_select_related = ("context", "artifact")
    raw_id_fields = ("context", "artifact")
    search_fields = ("context__name", "artifact__name")
    id_search_fields = ("pk", "context_id", "artifact_id")


@admin.register(Association)
class AssociationAdmin(MembershipAdmin):
    list_display = ("id", "context", "execution")
    list_select_related = ("context", "execution")
    raw_id_fields = ("context", "execution")
    search_fields = ("context__name", "execution__name")
    id_search_fields = ("pk", "context_id", "execution_id")


class ParentContextForm(ConstraintCheckingForm):
    class Meta:
        model = ParentContext
        fields = ("context", "parent")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        child, parent = data.get("context"), data.get("parent")
        if child is not None and parent is not None and child.pk != parent.pk:
            problem = validation.parent_context_problem(child, parent, ignore_link_id=self.instance.pk)
            if problem:
                self.add_error("parent", problem)
        return data


@admin.register(ParentContext)
class ParentContextAdmin(MembershipAdmin):
    form = ParentContextForm
    list_display = ("id", "context", "parent")
    list_select_related = ("context", "parent")
    raw_id_fields = ("context", "parent")
    search_fields = ("context__name", "parent__name")
    id_search_fields = ("pk", "context_id", "parent_id")
