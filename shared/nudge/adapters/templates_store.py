"""Message templates by id (admin API, `nudge template put`), in DynamoDB, and a fake."""

from __future__ import annotations

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable
from nudge.models.template import MessageTemplate
from nudge.templating import TemplateError


class DynamoTemplateStore(DynamoTable):
    def put(self, template: MessageTemplate, at: int) -> None:
        item = self.to_item(
            {"template_id": template.id, "body": template.model_dump_json(), "updated_at": at}
        )
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))

    def get(self, template_id: str) -> MessageTemplate | None:
        response = self.ddb.get_item(
            TableName=self.table, Key=self.key(template_id=template_id), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        try:
            return MessageTemplate.model_validate_json(item["body"]["S"])
        except ValueError as error:  # saved before a stricter rule (the template allow-list)
            raise TemplateError(
                f"template_id: the saved template {template_id!r} is no longer accepted, "
                f"save a fixed version: {_problems(error)}"
            ) from error


def _problems(error: ValueError) -> str:
    errors = getattr(error, "errors", None)  # a pydantic ValidationError
    if errors is None:
        return str(error)
    return "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in errors()[:3])
