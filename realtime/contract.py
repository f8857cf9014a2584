"""The event contract as schemas: OpenAPI components built from `realtime.events`, and a
validator the tests run on every event they make.

`feed_event_components()` is what the OpenAPI document holds (OAS 3.0: `nullable`), a
`oneOf` of one envelope per type with a `type` discriminator; `event_validate` checks an
envelope against the same components, translated to JSON Schema.
"""

import functools
import types
import typing
from typing import Any, Literal, get_args, get_origin, get_type_hints

from .events import EVENT_DATA

_PRIMITIVES = {int: {"type": "integer"}, str: {"type": "string"}, bool: {"type": "boolean"}, float: {"type": "number"}}


def _component_name(cls: type) -> str:
    return "Event" + cls.__name__


def _schema_of(annotation: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = get_args(annotation)
        schema = _schema_of(base, components)
        if "date-time" in extras:
            schema["format"] = "date-time"
        return schema
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"only `X | None` unions are supported, not {annotation}")
        schema = _schema_of(options[0], components)
        if "$ref" in schema:  # OAS 3.0: a $ref cannot carry siblings
            return {"allOf": [schema], "nullable": True}
        return schema | {"nullable": True}
    if origin is dict:  # dict[str, X]: an object with any keys
        return {"type": "object", "additionalProperties": _schema_of(get_args(annotation)[1], components)}
    if origin is Literal:
        values = list(get_args(annotation))
        return {"type": "string" if isinstance(values[0], str) else "integer", "enum": values}
    if isinstance(annotation, type) and typing.is_typeddict(annotation):
        name = _component_name(annotation)
        if name not in components:
            components[name] = {}  # reserved first: recursive shapes terminate
            components[name] = _typed_dict_schema(annotation, components)
        return {"$ref": f"#/components/schemas/{name}"}
    if annotation in _PRIMITIVES:
        return dict(_PRIMITIVES[annotation])
    raise TypeError(f"no schema for {annotation!r}")


def _typed_dict_schema(cls: type, components: dict[str, Any]) -> dict[str, Any]:
    hints = get_type_hints(cls, include_extras=True)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: _schema_of(hint, components) for name, hint in hints.items()},
        "required": sorted(cls.__required_keys__),
        # Strict: a field the contract does not name fails the tests, so the schema and the
        # events cannot drift apart silently.
        "additionalProperties": False,
    }
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        schema["description"] = " ".join(cls.__doc__.split())
    return schema


@functools.cache
def feed_event_components() -> dict[str, Any]:
    """Every schema component of the event contract, `FeedEvent` (the union) among them."""
    components: dict[str, Any] = {}
    variants = {}
    for event_type, data_cls in EVENT_DATA.items():
        name = "FeedEvent_" + event_type.replace(".", "_")
        components[name] = {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": [event_type]},
                "chat_id": {"type": "integer"},
                "id": {"type": "integer", "description": "The event's cursor."},
                "data": _schema_of(data_cls, components),
                "ts": {"type": "string", "format": "date-time"},
            },
            "required": ["type", "chat_id", "id", "data", "ts"],
            "additionalProperties": False,
        }
        variants[event_type] = f"#/components/schemas/{name}"
    components["FeedEvent"] = {
        "description": "An event: the same envelope over WebSocket (Centrifugo), SSE, long polling and polling.",
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": "type", "mapping": variants},
    }
    return components


def _to_json_schema(node: Any) -> Any:
    """OAS 3.0 → JSON Schema: `nullable: true` becomes a union with null."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _to_json_schema(value) for key, value in node.items() if key != "discriminator"}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _validator():
    import jsonschema

    schema = {"$ref": "#/components/schemas/FeedEvent", "components": {"schemas": feed_event_components()}}
    schema = _to_json_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def event_errors(envelope: dict[str, Any]) -> list[str]:
    """What is wrong with an envelope by the contract (empty: nothing)."""
    import jsonschema

    data_cls = EVENT_DATA.get(envelope.get("type"))
    if data_cls is None:
        return [f"unknown event type {envelope.get('type')!r}"]
    # Validate against the one variant its type names: readable errors, not oneOf's.
    name = "FeedEvent_" + envelope["type"].replace(".", "_")
    validator = _validator()
    variant = validator.evolve(
        schema={"$ref": f"#/components/schemas/{name}", **{"components": validator.schema["components"]}}
    )
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '(envelope)'}: {e.message}" for e in variant.iter_errors(envelope)
    ]
    if not errors and not validator.is_valid(envelope):  # the union itself (e.g. ambiguous)
        errors = [str(jsonschema.exceptions.best_match(validator.iter_errors(envelope)))]
    return errors


def event_validate(envelope: dict[str, Any]) -> None:
    """Raises AssertionError when the envelope breaks the contract."""
    errors = event_errors(envelope)
    if errors:
        raise AssertionError(f"event #{envelope.get('id')} {envelope.get('type')} breaks the contract: {errors}")
