"""Conversions between the SDK's types and componentize-py's bindings of
`ferry:connector@0.1.0`; imported only inside a component."""

from __future__ import annotations

from wit_world.imports import types as t
from componentize_py_types import Err, Ok

from .connector import Connector, parse_records, record_text
from .errors import ConnectorError
from .json import parse_object
from .page import DeletedPage, Page
from .settings import Settings
from .types import ConnectorInfo, FieldInfo, ModuleInfo


def error(e: ConnectorError):
    if e.kind == "not-found":
        return t.ConnectorError_NotFound(e.message)
    if e.kind == "invalid":
        return t.ConnectorError_Invalid(t.InvalidField(e.field, e.message))
    if e.kind == "unauthorized":
        return t.ConnectorError_Unauthorized(e.message)
    if e.kind == "rate-limited":
        return t.ConnectorError_RateLimited(t.RateLimit(e.retry_after_ms, e.message))
    if e.kind == "conflict":
        return t.ConnectorError_Conflict(e.message)
    if e.kind == "transient":
        return t.ConnectorError_Transient(e.message)
    if e.kind == "unsupported":
        return t.ConnectorError_Unsupported(e.message)
    return t.ConnectorError_Vendor(t.VendorError(e.code, e.message, e.http_status))


def field(f: FieldInfo):
    return t.FieldInfo(
        name=f.name,
        label=f.label if f.label is not None else f.name,
        kind=t.FieldKind[f.kind.name],
        required=bool(f.required),
        read_only=bool(f.read_only),
        custom=bool(f.custom),
        picklist=[str(p) for p in f.picklist],
        lookup_module=f.lookup_module,
    )


def module(m: ModuleInfo):
    return t.ModuleInfo(
        name=m.name,
        label=m.label if m.label is not None else m.name,
        id_field=m.id_field,
        modified_field=m.modified_field,
        fields=[field(f) for f in m.fields],
        operations=[t.Operation[o.name] for o in m.operations],
        actions=[t.ActionInfo(a.name, a.description) for a in m.actions],
        max_batch=int(m.max_batch),
    )


def info(i: ConnectorInfo):
    return t.ConnectorInfo(i.name, i.version, i.description, [module(m) for m in i.modules])


def page(p: Page):
    return t.Page([record_text(r) for r in p.records], p.next_cursor)


def deleted_page(p: DeletedPage):
    return t.DeletedPage([t.DeletedRecord(d.id, d.deleted_at) for d in p.records], p.next_cursor)


def write_results(results):
    out = []
    for r in results:
        if isinstance(r, ConnectorError):
            out.append(Err(error(r)))
        else:
            out.append(Ok(record_text(r)))
    return out


def exported(cls: type) -> type:
    """The class componentize-py calls, delegating to one `cls` object per
    component instance."""
    state = {}

    def instance() -> Connector:
        if "connector" not in state:
            state["connector"] = cls()
        return state["connector"]

    def call(fn):
        try:
            return fn()
        except ConnectorError as e:
            raise Err(error(e)) from None

    class Exported:
        def describe(self, settings: str):
            return call(lambda: info(instance().describe(Settings.parse(settings))))

        def configure(self, settings: str) -> None:
            def run():
                parsed = Settings.parse(settings)
                c = instance()
                c.settings = parsed
                c.configure(parsed)

            call(run)

        def check(self) -> None:
            call(lambda: instance().check())

        def list(self, module, since, cursor):
            return call(lambda: page(instance().list(module, since, cursor)))

        def get(self, module, id):
            return call(lambda: record_text(instance().get(module, id)))

        def find(self, module, criteria):
            return call(
                lambda: [record_text(r) for r in instance().find(module, parse_object(criteria))]
            )

        def deleted(self, module, since, cursor):
            return call(lambda: deleted_page(instance().deleted(module, since, cursor)))

        def create(self, module, records):
            return call(lambda: write_results(instance().create(module, parse_records(records))))

        def update(self, module, records):
            return call(lambda: write_results(instance().update(module, parse_records(records))))

        def delete(self, module, ids):
            return call(lambda: write_results(instance().delete(module, list(ids))))

        def act(self, module, id, action, args):
            return call(lambda: record_text(instance().act(module, id, action, parse_object(args))))

    Exported.__name__ = Exported.__qualname__ = "Connector"
    return Exported
