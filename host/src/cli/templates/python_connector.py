"""The {{name}} connector: reads and creates `records` through the vendor's
REST API. Relative URLs resolve against the connection's base URL, which
the host builds from the manifest's data centre (or the sandbox)."""

# Import everything at the top: the component is built with the interpreter
# already started and has no file system to import from later.
import ferry_sdk as ferry
from ferry_sdk import ConnectorError, FieldInfo, FieldKind, Operation


class {{Class}}(ferry.Connector):
    def describe(self, settings):
        return ferry.ConnectorInfo(
            "{{name}}",
            "0.1.0",
            "{{name}} connector",
            [
                ferry.ModuleInfo(
                    "records",
                    "id",
                    label="Records",
                    modified_field="updated_at",
                    fields=[
                        FieldInfo.text("id", read_only=True),
                        FieldInfo.text("name", label="Name", required=True),
                        FieldInfo("updated_at", FieldKind.DATETIME, read_only=True),
                    ],
                    operations=[Operation.READ, Operation.INCREMENTAL, Operation.CREATE],
                    max_batch=50,
                )
            ],
        )

    def list(self, module, since, cursor):
        page = ferry.page_number(cursor)
        resp = ferry.Request.get(f"/{module}").query("page", page).query("updated_since", since).send()
        body = resp.raise_for_status().json()
        more = body.get("has_more") is True
        return ferry.Page(ferry.records_at(body, module)).next(more, str(page + 1))

    def create(self, module, records):
        def create_one(record):
            # A POST that creates is not idempotent: the host will not
            # repeat it after an uncertain failure.
            resp = ferry.Request.post(f"/{module}").json(record).send()
            if resp.status != 201:
                raise ConnectorError.from_status(resp.status, resp.text())
            return resp.json()

        return ferry.each(records, create_one)


Connector = ferry.export({{Class}})
