//! OpenAPI 3.0 schema dialect -> JSON Schema draft 2020-12, plus the
//! strictness overlay (`unevaluatedProperties: false` where it is correct).
//!
//! Owns: rewriting a whole OpenAPI document so that every schema in it is a
//! 2020-12 schema with the same meaning for one direction (request or
//! response). Must never: validate anything itself (the `jsonschema` crate
//! does that), fetch anything, or change the document's non-schema structure
//! (JSON pointers into the converted document are the same as into the raw one).

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{Map, Value};

/// Which side of an exchange a converted document is for: it decides which
/// of `readOnly` / `writeOnly` properties stop being `required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Request bodies (and parameters): `readOnly` properties are not required.
    Request,
    /// Response bodies: `writeOnly` properties are not required.
    Response,
}

/// Where a schema sits, which decides whether the overlay may close it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// A place a value is validated against on its own: a body or parameter
    /// schema, a `properties` value, `items`, an `additionalProperties` schema.
    Value,
    /// A direct member of `allOf`/`anyOf`/`oneOf`/`not`: its siblings or its
    /// parent evaluate properties too, so it is never closed itself.
    Member,
    /// A `components/schemas` entry: only reached through `$ref`, and the
    /// `$ref` site decides (it is closed there when it is in a value position).
    Definition,
}

/// What an object schema says about properties it does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Not about objects (a string, a number, ...).
    NotObject,
    /// Constrains nothing about property names (`{}`, `{required: [...]}`).
    Neutral,
    /// `type: object` with no properties and no `additionalProperties`:
    /// free-form. Neutral inside `allOf`, open as an `anyOf`/`oneOf` branch.
    FreeObject,
    /// Declares properties and leaves `additionalProperties` unsaid: the
    /// overlay closes it.
    Closed,
    /// Says something explicit about extra properties (`additionalProperties`
    /// present), or has a free-form alternative: left alone.
    Open,
}

/// Converts schemas of one OpenAPI document for one direction.
pub struct Converter<'d> {
    doc: &'d Value,
    dir: Direction,
    shapes: RefCell<HashMap<String, Option<Shape>>>,
}

/// Keywords of the OpenAPI 3.0 schema object that JSON Schema 2020-12 does
/// not have (or that mean something else there), dropped on conversion.
const OPENAPI_ONLY: &[&str] = &[
    "nullable",
    "discriminator",
    "example",
    "xml",
    "externalDocs",
];

/// The `type` names JSON Schema knows.
const JSON_TYPES: &[&str] = &[
    "object", "array", "string", "integer", "number", "boolean", "null",
];

impl<'d> Converter<'d> {
    /// A converter for `doc` (the raw OpenAPI document) and `dir`.
    pub fn new(doc: &'d Value, dir: Direction) -> Self {
        Self {
            doc,
            dir,
            shapes: RefCell::new(HashMap::new()),
        }
    }

    /// The whole document with every schema converted.
    pub fn document(&self) -> Value {
        self.walk_doc(self.doc, &[])
    }

    /// Walk the non-schema structure of the document; `at` is the key path.
    fn walk_doc(&self, v: &Value, at: &[&str]) -> Value {
        match v {
            Value::Object(map) => {
                let mut out = Map::with_capacity(map.len());
                for (k, child) in map {
                    if k.starts_with("x-") || k == "example" || k == "examples" {
                        continue;
                    }
                    let mut path: Vec<&str> = at.to_vec();
                    path.push(k);
                    let converted = if at == ["components", "schemas"] {
                        self.schema(child, Pos::Definition)
                    } else if k == "schema" && child.is_object() {
                        self.schema(child, Pos::Value)
                    } else {
                        self.walk_doc(child, &path)
                    };
                    out.insert(k.clone(), converted);
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.walk_doc(item, at)).collect())
            }
            other => other.clone(),
        }
    }

    /// Convert one schema found at `pos`.
    fn schema(&self, s: &Value, pos: Pos) -> Value {
        let Value::Object(map) = s else {
            return s.clone();
        };
        if let Some(Value::String(r)) = map.get("$ref") {
            // OpenAPI 3.0: siblings of `$ref` are ignored.
            let mut out = Map::new();
            out.insert("$ref".into(), Value::String(r.clone()));
            if pos == Pos::Value && self.shape(s) == Shape::Closed {
                out.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            return Value::Object(out);
        }
        let mut out = Map::with_capacity(map.len());
        for (k, v) in map {
            if OPENAPI_ONLY.contains(&k.as_str()) || k.starts_with("x-") {
                continue;
            }
            let converted = match k.as_str() {
                "properties" => match v {
                    Value::Object(props) => Value::Object(
                        props
                            .iter()
                            .map(|(name, p)| (name.clone(), self.schema(p, Pos::Value)))
                            .collect(),
                    ),
                    other => other.clone(),
                },
                "items" | "additionalProperties" => self.schema(v, Pos::Value),
                "allOf" | "anyOf" | "oneOf" => match v {
                    Value::Array(members) => Value::Array(
                        members
                            .iter()
                            .map(|m| self.schema(m, Pos::Member))
                            .collect(),
                    ),
                    other => other.clone(),
                },
                "not" => self.schema(v, Pos::Member),
                "required" => self.required(map, v),
                "type" => match v.as_str() {
                    // Vultr writes `int` and `float`; other unknown names
                    // (`enum`, `mixed`) constrain nothing we can express.
                    Some("int") => Value::String("integer".into()),
                    Some("float") => Value::String("number".into()),
                    Some(t) if !JSON_TYPES.contains(&t) => continue,
                    _ => v.clone(),
                },
                "exclusiveMinimum" | "exclusiveMaximum" => match v {
                    // OpenAPI 3.0 (draft 4) boolean form: moves the bound.
                    Value::Bool(true) => {
                        let bound = if k == "exclusiveMinimum" {
                            "minimum"
                        } else {
                            "maximum"
                        };
                        match map.get(bound) {
                            Some(b) => b.clone(),
                            None => continue,
                        }
                    }
                    Value::Bool(false) => continue,
                    other => other.clone(),
                },
                "minimum" | "maximum" => {
                    let excl = if k == "minimum" {
                        "exclusiveMinimum"
                    } else {
                        "exclusiveMaximum"
                    };
                    if map.get(excl) == Some(&Value::Bool(true)) {
                        continue;
                    }
                    v.clone()
                }
                _ => v.clone(),
            };
            out.insert(k.clone(), converted);
        }
        if pos == Pos::Value && self.shape(s) == Shape::Closed {
            out.insert("unevaluatedProperties".into(), Value::Bool(false));
        }
        if map.get("nullable") == Some(&Value::Bool(true)) {
            return nullable(out);
        }
        Value::Object(out)
    }

    /// `required` without the properties this direction never carries.
    fn required(&self, schema: &Map<String, Value>, required: &Value) -> Value {
        let Value::Array(names) = required else {
            return required.clone();
        };
        let skip = match self.dir {
            Direction::Request => "readOnly",
            Direction::Response => "writeOnly",
        };
        let props = schema.get("properties").and_then(Value::as_object);
        Value::Array(
            names
                .iter()
                .filter(|name| {
                    let prop = name
                        .as_str()
                        .and_then(|n| props.and_then(|p| p.get(n)))
                        .map(|p| self.deref(p, 0));
                    !prop.is_some_and(|p| p.get(skip) == Some(&Value::Bool(true)))
                })
                .cloned()
                .collect(),
        )
    }

    /// Follow `$ref`s (document-local) to the schema they name.
    fn deref<'a>(&'a self, s: &'a Value, depth: usize) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) if depth < 64 => match self.target(r) {
                Some(t) => self.deref(t, depth + 1),
                None => s,
            },
            _ => s,
        }
    }

    fn target(&self, r: &str) -> Option<&'d Value> {
        r.strip_prefix('#').and_then(|p| self.doc.pointer(p))
    }

    /// The shape of a raw (OpenAPI) schema, resolving `$ref`s; memoized per
    /// `$ref`, cycles count as neutral.
    fn shape(&self, s: &Value) -> Shape {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            if let Some(known) = self.shapes.borrow().get(r) {
                return known.unwrap_or(Shape::Neutral);
            }
            self.shapes.borrow_mut().insert(r.to_string(), None);
            let shape = match self.target(r) {
                Some(t) => self.shape(t),
                None => Shape::Open,
            };
            self.shapes.borrow_mut().insert(r.to_string(), Some(shape));
            return shape;
        }
        let Value::Object(map) = s else {
            // `true`/`false` schemas.
            return Shape::Neutral;
        };
        if map.contains_key("additionalProperties") {
            return Shape::Open;
        }
        let own = map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        let mut closed = own;
        if let Some(Value::Array(members)) = map.get("allOf") {
            for m in members {
                match self.shape(m) {
                    Shape::Open => return Shape::Open,
                    Shape::Closed => closed = true,
                    Shape::NotObject | Shape::Neutral | Shape::FreeObject => {}
                }
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = map.get(key) {
                for b in branches {
                    match self.shape(b) {
                        Shape::Open | Shape::FreeObject => return Shape::Open,
                        Shape::Closed => closed = true,
                        Shape::NotObject | Shape::Neutral => {}
                    }
                }
            }
        }
        if closed {
            return Shape::Closed;
        }
        match map.get("type").and_then(Value::as_str) {
            Some("object") => Shape::FreeObject,
            Some(_) => Shape::NotObject,
            None => Shape::Neutral,
        }
    }
}

/// Apply OpenAPI 3.0 `nullable: true` to a converted schema.
fn nullable(mut out: Map<String, Value>) -> Value {
    match out.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            out.insert(
                "type".into(),
                Value::Array(vec![Value::String(t), Value::String("null".into())]),
            );
            if let Some(Value::Array(values)) = out.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
            Value::Object(out)
        }
        _ => serde_json::json!({ "anyOf": [{ "type": "null" }, Value::Object(out)] }),
    }
}
