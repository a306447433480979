//! Generates the `c1.connector.v2` messages, their enum-name look-ups and
//! their protojson rendering from `proto/` at build time.
//!
//! Decision: the `.proto` files are the one declaration of Baton's schema.
//! They are compiled by a pure-Rust compiler (no protoc, no network), prost
//! writes the structs, and this script writes the JSON rendering from the
//! same descriptors, so a field added to a `.proto` file is encoded, decoded,
//! shown by `inspect` and compared by `diff` without further code.
//!
//! The JSON is written here rather than by a serde generator because the
//! c1z types keep prost's own well-known types (`Any`, `Struct`, `Timestamp`)
//! that every crate of the host builds annotations with, and because the
//! proto3 JSON mapping inlines an `Any` under `@type`, which a field-by-field
//! serde derive of `Any` does not do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use heck::{ToSnakeCase, ToUpperCamelCase};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

const PACKAGE: &str = "c1.connector.v2";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from("proto");
    println!("cargo:rerun-if-changed=proto");
    let package_dir = root.join("c1/connector/v2");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&package_dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "proto"));
    files.sort();
    let fds = protox::compile(&files, [&root])?;

    let mut config = prost_build::Config::new();
    config
        // Sorted maps: the same record always encodes to the same bytes.
        .btree_map(["."])
        .enable_type_names()
        .type_name_domain(["."], "type.googleapis.com")
        // Resource ids are sorted map keys in the host (prost already
        // derives Eq and Hash where it can).
        .type_attribute(".c1.connector.v2.ResourceId", "#[derive(PartialOrd, Ord)]");
    config.compile_fds(fds.clone())?;

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let model = Model::new(&fds);
    std::fs::write(out.join("c1.connector.v2.names.rs"), model.enum_names())?;
    std::fs::write(out.join("c1.connector.v2.json.rs"), model.protojson())?;
    Ok(())
}

struct Model<'a> {
    /// Messages of the package, with their fully qualified name.
    messages: Vec<(String, &'a DescriptorProto)>,
    /// Fully qualified proto name (leading dot) -> Rust path.
    types: BTreeMap<String, String>,
    /// The fully qualified names of the package's enums.
    enums: BTreeSet<String>,
    /// Map-entry messages by fully qualified name.
    map_entries: BTreeMap<String, &'a DescriptorProto>,
}

impl<'a> Model<'a> {
    fn new(fds: &'a FileDescriptorSet) -> Self {
        let mut m = Model {
            messages: Vec::new(),
            types: BTreeMap::new(),
            enums: BTreeSet::new(),
            map_entries: BTreeMap::new(),
        };
        for file in fds.file.iter().filter(|f| f.package() == PACKAGE) {
            for e in &file.enum_type {
                m.add_enum(&[], e.name());
            }
            for msg in &file.message_type {
                m.add_message(&[], msg);
            }
        }
        m
    }

    fn add_message(&mut self, parents: &[&'a str], msg: &'a DescriptorProto) {
        let full = proto_name(parents, msg.name());
        if msg.options.as_ref().is_some_and(|o| o.map_entry()) {
            self.map_entries.insert(full, msg);
            return;
        }
        self.types
            .insert(full.clone(), rust_type(parents, msg.name()));
        self.messages.push((full, msg));
        let mut inner = parents.to_vec();
        inner.push(msg.name());
        for e in &msg.enum_type {
            self.add_enum(&inner, e.name());
        }
        for nested in &msg.nested_type {
            self.add_message(&inner, nested);
        }
    }

    fn add_enum(&mut self, parents: &[&str], name: &str) {
        let full = proto_name(parents, name);
        self.types.insert(full.clone(), rust_type(parents, name));
        self.enums.insert(full);
    }

    /// `name_of(i32)` for every enum: the value's name, for rendering.
    fn enum_names(&self) -> String {
        let mut s = String::new();
        for full in &self.enums {
            let path = &self.types[full];
            writeln!(
                s,
                "impl {path} {{\n    /// Name of a raw wire value, if it is a known value.\n    \
                 pub fn name_of(value: i32) -> Option<&'static str> {{\n        \
                 Self::try_from(value).ok().map(|v| v.as_str_name())\n    }}\n}}\n"
            )
            .unwrap();
        }
        s
    }

    /// A `ProtoJson` impl for every message and the `Any` dispatch by name.
    fn protojson(&self) -> String {
        let mut s = String::new();
        for (full, msg) in &self.messages {
            let path = &self.types[full];
            writeln!(s, "impl ProtoJson for pb::{path} {{").unwrap();
            writeln!(s, "    fn to_json(&self) -> J {{").unwrap();
            writeln!(s, "        let mut o = Obj::default();").unwrap();
            let mut oneofs: BTreeMap<i32, Vec<&FieldDescriptorProto>> = BTreeMap::new();
            let mut fields: Vec<&FieldDescriptorProto> = msg.field.iter().collect();
            fields.sort_by_key(|f| f.number());
            for f in fields {
                match f.oneof_index {
                    Some(i) if !f.proto3_optional() => oneofs.entry(i).or_default().push(f),
                    _ => s.push_str(&self.field_stmt(f)),
                }
            }
            for (i, members) in oneofs {
                let oneof = msg.oneof_decl[i as usize].name();
                let enum_path = format!("pb::{}", nested_path(path, &oneof.to_upper_camel_case()));
                writeln!(s, "        match &self.{} {{", rust_field(oneof)).unwrap();
                for f in members {
                    writeln!(
                        s,
                        "            Some({enum_path}::{}(v)) => o = o.raw({:?}, {}),",
                        f.name().to_upper_camel_case(),
                        f.json_name(),
                        self.value_expr(f, "v"),
                    )
                    .unwrap();
                }
                writeln!(s, "            None => {{}}\n        }}").unwrap();
            }
            writeln!(s, "        o.build()\n    }}\n}}\n").unwrap();
        }
        writeln!(
            s,
            "/// Renders an `Any` of a type of this package; `None` for other types.\n\
             pub(super) fn any_by_name(name: &str, any: &Any) -> Option<Option<J>> {{\n    \
             Some(match name {{"
        )
        .unwrap();
        for (full, _) in &self.messages {
            let path = &self.types[full];
            writeln!(s, "        {:?} => typed::<pb::{path}>(any),", &full[1..]).unwrap();
        }
        writeln!(s, "        _ => return None,\n    }})\n}}").unwrap();
        s
    }

    /// The statement that adds a non-oneof field, omitting proto3 defaults.
    fn field_stmt(&self, f: &FieldDescriptorProto) -> String {
        let key = f.json_name();
        let field = format!("self.{}", rust_field(f.name()));
        if let Some(entry) = self.map_entry(f) {
            let value = &entry.field[1];
            return format!(
                "        if !{field}.is_empty() {{\n            o = o.raw({key:?}, J::Object({field}.iter().map(|(k, v)| (k.to_string(), {})).collect()));\n        }}\n",
                self.value_expr(value, "v")
            );
        }
        if f.label() == Label::Repeated {
            if is_any(f) {
                return format!(
                    "        let items: Vec<J> = {field}.iter().filter_map(any_to_json).collect();\n        \
                     if !items.is_empty() {{\n            o = o.raw({key:?}, J::Array(items));\n        }}\n"
                );
            }
            return format!(
                "        if !{field}.is_empty() {{\n            o = o.raw({key:?}, J::Array({field}.iter().map(|v| {}).collect()));\n        }}\n",
                self.value_expr(f, "v")
            );
        }
        if is_any(f) {
            return format!(
                "        if let Some(j) = {field}.as_ref().and_then(any_to_json) {{\n            o = o.raw({key:?}, j);\n        }}\n"
            );
        }
        if f.r#type() == Type::Message || f.proto3_optional() {
            return format!(
                "        if let Some(v) = &{field} {{\n            o = o.raw({key:?}, {});\n        }}\n",
                self.value_expr(f, "v")
            );
        }
        let set = match f.r#type() {
            Type::String | Type::Bytes => format!("!{field}.is_empty()"),
            Type::Bool => field.clone(),
            Type::Float | Type::Double => format!("{field} != 0.0"),
            _ => format!("{field} != 0"),
        };
        format!(
            "        if {set} {{\n            let v = &{field};\n            o = o.raw({key:?}, {});\n        }}\n",
            self.value_expr(f, "v")
        )
    }

    /// JSON of one value `v` (a reference) of field `f`'s type.
    fn value_expr(&self, f: &FieldDescriptorProto, v: &str) -> String {
        match f.r#type() {
            Type::String => format!("J::String({v}.clone())"),
            Type::Bool => format!("J::Bool(*{v})"),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 | Type::Uint32 | Type::Fixed32 => {
                format!("J::from(*{v})")
            }
            // 64-bit integers are strings in the proto3 JSON mapping.
            Type::Int64 | Type::Sint64 | Type::Sfixed64 | Type::Uint64 | Type::Fixed64 => {
                format!("J::String({v}.to_string())")
            }
            Type::Float | Type::Double => format!("float_json(f64::from(*{v}))"),
            Type::Bytes => format!("bytes_json({v})"),
            Type::Enum => {
                let path = self.type_path(f.type_name());
                format!("enum_json(*{v}, pb::{path}::name_of)")
            }
            Type::Message if is_any(f) => format!("any_to_json({v}).unwrap_or(J::Null)"),
            Type::Message | Type::Group => format!("{v}.to_json()"),
        }
    }

    fn type_path(&self, type_name: &str) -> &str {
        self.types
            .get(type_name)
            .unwrap_or_else(|| panic!("type {type_name} is outside package {PACKAGE}"))
    }

    fn map_entry(&self, f: &FieldDescriptorProto) -> Option<&DescriptorProto> {
        (f.label() == Label::Repeated && f.r#type() == Type::Message)
            .then(|| self.map_entries.get(f.type_name()).copied())
            .flatten()
    }
}

fn is_any(f: &FieldDescriptorProto) -> bool {
    f.type_name() == ".google.protobuf.Any"
}

fn proto_name(parents: &[&str], name: &str) -> String {
    format!(".{PACKAGE}.{}", [parents, &[name]].concat().join("."))
}

/// The Rust path prost gives a (nested) type: parents as snake_case modules.
fn rust_type(parents: &[&str], name: &str) -> String {
    let mut path: Vec<String> = parents.iter().map(|p| rust_field(p)).collect();
    path.push(name.to_upper_camel_case());
    path.join("::")
}

/// The path of `inner`, declared inside message `outer` (a Rust path).
fn nested_path(outer: &str, inner: &str) -> String {
    let (prefix, last) = match outer.rsplit_once("::") {
        Some((p, l)) => (format!("{p}::"), l),
        None => (String::new(), outer),
    };
    format!("{prefix}{}::{inner}", sanitize(last.to_snake_case()))
}

fn rust_field(name: &str) -> String {
    sanitize(name.to_snake_case())
}

/// Keywords become raw identifiers, as prost writes them.
fn sanitize(ident: String) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "else", "enum", "false", "fn", "for", "if", "impl",
        "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
        "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become",
        "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield",
        "async", "await", "dyn", "try", "gen",
    ];
    match ident.as_str() {
        "self" | "super" | "crate" | "Self" => format!("{ident}_"),
        k if KEYWORDS.contains(&k) => format!("r#{ident}"),
        _ => ident,
    }
}
