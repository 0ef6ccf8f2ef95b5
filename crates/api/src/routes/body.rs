//! Request bodies are JSON whatever the Content-Type says: the seed's own curl commands send
//! JSON without one (curl then claims form encoding), and they must work as written.

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::ApiError;

/// Parses `body` as JSON into `T`: 400 when it is empty or not a JSON object, 422 naming the
/// field when a field is missing, unknown, of the wrong type or given twice. `{}` takes every
/// default.
pub(crate) fn json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed(
            "the body is empty: send a JSON object (`{}` takes every default)",
        ));
    }
    let value = parse_unique(body)?;
    if !value.is_object() {
        return Err(ApiError::malformed("the body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names unknown fields in the message, not the path.
        let field = if path == "." {
            inner
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "body".to_string())
        } else {
            path
        };
        ApiError::field(&field, inner)
    })
}

/// The JSON value of `body`; a 422 naming the key when an object has a key twice (serde_json
/// alone keeps the last one, so a client's typo of a repeated field would pass unseen).
fn parse_unique(body: &[u8]) -> Result<Value, ApiError> {
    let repeated = RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(body);
    let parsed = Unique {
        path: String::new(),
        repeated: &repeated,
    }
    .deserialize(&mut reader)
    .and_then(|value| reader.end().map(|()| value));
    match (parsed, repeated.into_inner()) {
        (_, Some(field)) => Err(ApiError::field(
            &field,
            "is given twice; give each field once",
        )),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(ApiError::malformed(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// Reads any JSON value, failing at the first key an object repeats; that key's path
/// (`headers.x-a`, `data[0].name`) is left in `repeated`.
struct Unique<'a> {
    path: String,
    repeated: &'a RefCell<Option<String>>,
}

impl Unique<'_> {
    fn child(&self, path: String) -> Self {
        Unique {
            path,
            repeated: self.repeated,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) =
            seq.next_element_seed(self.child(format!("{}[{}]", self.path, items.len())))?
        {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if map.contains_key(&key) {
                let message = format!("`{path}` is given twice");
                *self.repeated.borrow_mut() = Some(path);
                return Err(A::Error::custom(message));
            }
            let value = access.next_value_seed(self.child(path))?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        duration: u32,
        #[serde(default)]
        #[allow(dead_code)]
        headers: std::collections::BTreeMap<String, String>,
    }

    fn parse(text: &str) -> Result<Sample, serde_json::Value> {
        json::<Sample>(&Bytes::from(text.to_string())).map_err(|e| {
            let response = axum::response::IntoResponse::into_response(e);
            let status = response.status().as_u16();
            serde_json::json!({ "status": status })
        })
    }

    #[test]
    fn an_empty_object_takes_the_defaults_and_an_empty_body_is_refused() {
        assert_eq!(parse("{}").unwrap().duration, 0);
        assert_eq!(parse(" {\n} ").unwrap().duration, 0);
        for empty in ["", "  \n"] {
            assert_eq!(parse(empty).unwrap_err()["status"], 400, "{empty:?}");
        }
    }

    #[test]
    fn a_repeated_key_is_named_with_its_path() {
        let field = |text: &str| match parse_unique(text.as_bytes()) {
            Err(e) => format!("{e:?}"),
            Ok(v) => panic!("accepted {v}"),
        };
        assert!(field(r#"{"duration": 5, "duration": 6}"#).contains("field: \"duration\""));
        assert!(
            field(r#"{"headers": {"x-a": "1", "x-a": "2"}}"#).contains("field: \"headers.x-a\"")
        );
        assert!(field(r#"{"data": [{"a": 1, "a": 1}]}"#).contains("field: \"data[0].a\""));
        assert_eq!(
            parse(r#"{"duration": 5, "duration": 6}"#).unwrap_err()["status"],
            422
        );
        // The same key in two objects is no repeat.
        let v =
            parse_unique(br#"{"a": {"k": 1}, "b": {"k": 2}, "c": [1, 1.5, -2, null, true, "s"]}"#)
                .unwrap();
        assert_eq!(v["c"], serde_json::json!([1, 1.5, -2, null, true, "s"]));
    }

    #[test]
    fn not_json_is_a_400() {
        for text in ["{\"duration\": ", "not json", "{} {}", "[1, 2]"] {
            assert_eq!(parse(text).unwrap_err()["status"], 400, "{text}");
        }
    }
}
