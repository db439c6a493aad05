"""A well-behaved test connector, the twin of the Rust one: lists `items`
from the connection's base URL (page-numbered), echoes writes (a created
record's id is `new-<key>`, or `new-1` without a `key`), and logs."""

import ferry_sdk as ferry
from ferry_sdk import ConnectorError, FieldInfo, FieldKind, Operation


class WellBehaved(ferry.Connector):
    def describe(self, settings):
        return ferry.ConnectorInfo(
            "well-behaved",
            "0.1.0",
            "Test connector that follows the rules",
            [
                ferry.ModuleInfo(
                    "items",
                    "id",
                    label="Items",
                    modified_field="modified",
                    fields=[
                        FieldInfo.text("id", read_only=True),
                        FieldInfo.text("name", label="Name", required=True),
                        FieldInfo.text("key", label="Caller's key"),
                        FieldInfo("price", FieldKind.DECIMAL),
                        FieldInfo("status", FieldKind.PICKLIST, picklist=["active", "inactive"]),
                    ],
                    operations=[Operation.READ, Operation.CREATE, Operation.INCREMENTAL],
                    actions=[ferry.Action("archive", "Archive the item")],
                    max_batch=100,
                )
            ],
        )

    def configure(self, settings):
        settings.require("base_url")

    def list(self, module, since, cursor):
        if module != "items":
            raise ConnectorError.not_found(f"module `{module}`")
        page = ferry.page_number(cursor)
        resp = ferry.Request.get("/items").query("page", page).query("since", since).send()
        body = resp.raise_for_status().json()
        ferry.log.info(f"listed page {page}")
        return ferry.Page(ferry.records_at(body, "items")).next(body.get("more") is True, str(page + 1))

    def create(self, module, records):
        def create_one(record):
            if not isinstance(record.get("name"), str):
                raise ConnectorError.invalid("name", "name is required")
            key = record.get("key")
            record["id"] = f"new-{key}" if isinstance(key, str) else "new-1"
            return record

        return ferry.each(records, create_one)

    def act(self, module, id, action, args):
        if action == "archive":
            return {"id": id, "status": "inactive"}
        raise ConnectorError.unsupported(f"action `{action}`")


Connector = ferry.export(WellBehaved)
