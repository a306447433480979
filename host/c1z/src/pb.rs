//! Protobuf messages of package `c1.connector.v2`, generated at build time
//! from `proto/c1/connector/v2/*.proto`.
//!
//! Decision: the `.proto` files, written from the field numbers in Baton's
//! protos, are the one declaration of the c1z schema; `build.rs` compiles
//! them without protoc and prost writes the structs. Every field Baton's
//! schema gives is declared, so a c1z written by Baton decodes with nothing
//! dropped, `inspect` shows it and `diff` compares it. prost encodes fields in
//! ascending tag order like Go, and every map is a `BTreeMap`
//! (`prost_types::Struct` is BTreeMap-backed too), so encoding is
//! deterministic: the same record always gives the same bytes, which sync
//! diffs depend on.
//!
//! Nested messages and enums live in snake_case modules named after their
//! parent (`resource_type::Trait`, `user_trait::Email`,
//! `entitlement::PurposeValue`, ...). Every message knows its full name and
//! its `type.googleapis.com/` type URL (`prost::Name`); every enum has
//! `name_of` for rendering raw wire values.

pub use prost_types::{Any, ListValue, Struct, Timestamp, Value, value::Kind as ValueKind};

#[allow(clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/c1.connector.v2.rs"));
    include!(concat!(env!("OUT_DIR"), "/c1.connector.v2.names.rs"));
}

pub use generated::*;
pub use grant_sources::GrantSource;

impl ResourceId {
    /// A resource id of type `resource_type` and native id `resource`.
    pub fn new(resource_type: impl Into<String>, resource: impl Into<String>) -> Self {
        ResourceId {
            resource_type: resource_type.into(),
            resource: resource.into(),
            baton_resource: false,
        }
    }

    /// The `v1_resources.external_id` of this resource: `"<type>:<id>"`.
    pub fn external_id(&self) -> String {
        format!("{}:{}", self.resource_type, self.resource)
    }
}

// ---------------------------------------------------------------------------
// Any helpers

/// Packs `msg` into an `Any` with the Baton type URL
/// (`type.googleapis.com/c1.connector.v2.<Msg>`).
pub fn pack_any<T: prost::Message + prost::Name>(msg: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: msg.encode_to_vec(),
    }
}

/// Unpacks `any` as `T`: `Ok(None)` if the type URL names another message,
/// `Err` if it names `T` but the bytes do not decode.
pub fn unpack_any<T: prost::Message + prost::Name + Default>(
    any: &Any,
) -> Result<Option<T>, prost::DecodeError> {
    if !type_url_matches::<T>(&any.type_url) {
        return Ok(None);
    }
    T::decode(any.value.as_slice()).map(Some)
}

/// First annotation of type `T` in `annotations`, decoded.
pub fn find_annotation<T: prost::Message + prost::Name + Default>(
    annotations: &[Any],
) -> Result<Option<T>, prost::DecodeError> {
    annotations
        .iter()
        .find_map(|any| unpack_any::<T>(any).transpose())
        .transpose()
}

/// True if `annotations` holds an annotation of type `T`.
pub fn has_annotation<T: prost::Name>(annotations: &[Any]) -> bool {
    annotations
        .iter()
        .any(|a| type_url_matches::<T>(&a.type_url))
}

/// Accepts any type-URL host (`type.googleapis.com/`, a bare `/`, ...) as long
/// as the part after the last `/` is the message's full name.
pub(crate) fn type_url_matches<T: prost::Name>(url: &str) -> bool {
    let name = url.rsplit('/').next().unwrap_or(url);
    name == T::full_name()
}

// ---------------------------------------------------------------------------
// JSON <-> google.protobuf.Struct

/// Converts a JSON object into a `Struct`. `None` if `json` is not an object.
/// Numbers become doubles, as in protobuf's own JSON mapping.
pub fn json_to_struct(json: &serde_json::Value) -> Option<Struct> {
    match json {
        serde_json::Value::Object(map) => Some(Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        }),
        _ => None,
    }
}

/// Converts any JSON value into a `google.protobuf.Value`.
pub fn json_to_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    let kind = match json {
        J::Null => ValueKind::NullValue(0),
        J::Bool(b) => ValueKind::BoolValue(*b),
        J::Number(n) => ValueKind::NumberValue(n.as_f64().unwrap_or(0.0)),
        J::String(s) => ValueKind::StringValue(s.clone()),
        J::Array(items) => ValueKind::ListValue(ListValue {
            values: items.iter().map(json_to_value).collect(),
        }),
        J::Object(_) => ValueKind::StructValue(json_to_struct(json).unwrap_or_default()),
    };
    Value { kind: Some(kind) }
}

/// Converts a `Struct` back into a JSON object.
pub fn struct_to_json(s: &Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

/// Converts a `google.protobuf.Value` into JSON. Whole-number doubles that fit
/// an i64 become JSON integers so ids stay readable.
pub fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match &v.kind {
        None | Some(ValueKind::NullValue(_)) => J::Null,
        Some(ValueKind::BoolValue(b)) => J::Bool(*b),
        Some(ValueKind::NumberValue(n)) => number_to_json(*n),
        Some(ValueKind::StringValue(s)) => J::String(s.clone()),
        Some(ValueKind::ListValue(l)) => J::Array(l.values.iter().map(value_to_json).collect()),
        Some(ValueKind::StructValue(s)) => struct_to_json(s),
    }
}

fn number_to_json(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::BTreeMap;

    #[test]
    fn resource_type_traits_are_packed() {
        let rt = ResourceType {
            id: "user".into(),
            traits: vec![resource_type::Trait::User as i32],
            ..Default::default()
        };
        let bytes = rt.encode_to_vec();
        // field 1 "user", then field 3 packed: 1a 01 01
        assert_eq!(bytes, b"\x0a\x04user\x1a\x01\x01");
    }

    #[test]
    fn grant_encodes_annotations_before_sources() {
        let g = Grant {
            id: "g".into(),
            annotations: vec![pack_any(&GrantImmutable::default())],
            sources: Some(GrantSources {
                sources: [("b".to_string(), GrantSource { is_direct: true })]
                    .into_iter()
                    .collect(),
            }),
            ..Default::default()
        };
        let bytes = g.encode_to_vec();
        let pos4 = bytes.iter().position(|b| *b == 0x22).unwrap();
        let pos5 = bytes.iter().position(|b| *b == 0x2a).unwrap();
        assert!(pos4 < pos5, "tag 4 must precede tag 5: {bytes:02x?}");
    }

    #[test]
    fn map_entries_are_sorted() {
        let mut sources = BTreeMap::new();
        for k in ["zeta", "alpha", "mid"] {
            sources.insert(k.to_string(), GrantSource { is_direct: false });
        }
        let a = GrantSources { sources }.encode_to_vec();
        let mut again = BTreeMap::new();
        for k in ["mid", "zeta", "alpha"] {
            again.insert(k.to_string(), GrantSource { is_direct: false });
        }
        assert_eq!(a, GrantSources { sources: again }.encode_to_vec());
        let alpha = a.windows(5).position(|w| w == b"alpha").unwrap();
        let zeta = a.windows(4).position(|w| w == b"zeta").unwrap();
        assert!(alpha < zeta);
    }

    #[test]
    fn any_roundtrip_and_type_url() {
        let ut = UserTrait {
            login: "alice".into(),
            ..Default::default()
        };
        let any = pack_any(&ut);
        assert_eq!(
            any.type_url,
            "type.googleapis.com/c1.connector.v2.UserTrait"
        );
        assert_eq!(unpack_any::<UserTrait>(&any).unwrap(), Some(ut));
        assert_eq!(unpack_any::<GroupTrait>(&any).unwrap(), None);
        assert!(has_annotation::<UserTrait>(std::slice::from_ref(&any)));
        let bad = Any {
            type_url: any.type_url.clone(),
            value: vec![0xff, 0xff],
        };
        assert!(unpack_any::<UserTrait>(&bad).is_err());
    }

    #[test]
    fn json_struct_roundtrip_is_sorted() {
        let json = serde_json::json!({"z": 1, "a": [true, null, "x"], "m": {"k": 2.5}});
        let s = json_to_struct(&json).unwrap();
        assert_eq!(s.fields.keys().collect::<Vec<_>>(), vec!["a", "m", "z"]);
        assert_eq!(struct_to_json(&s), json);
        assert!(json_to_struct(&serde_json::json!([1])).is_none());
    }

    #[test]
    fn enum_names() {
        assert_eq!(resource_type::Trait::name_of(2), Some("TRAIT_GROUP"));
        assert_eq!(
            entitlement::PurposeValue::from_str_name("PURPOSE_VALUE_ASSIGNMENT"),
            Some(entitlement::PurposeValue::Assignment)
        );
        assert_eq!(Capability::name_of(99), None);
    }
}
