//! Kubernetes objects parsed strictly into k8s-openapi types.
//!
//! k8s-openapi's types ignore fields they do not know, so a typo (`replica:`) or a field at
//! the wrong level would pass unnoticed. [`strict`] deserializes a document into its type,
//! serializes the typed value back and compares the two as JSON: every field that did not
//! survive, every value the type changed and every field it added is reported with its path.

use std::any::TypeId;
use std::fmt;
use std::path::Path;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, Resource};

use crate::monitoring::ServiceMonitor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

macro_rules! kinds {
    ($($variant:ident),* $(,)?) => {
        /// One Kubernetes object, of a kind meshbench's deployment uses.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Object {
            $(
                #[doc = concat!("A ", stringify!($variant), ".")]
                $variant($variant),
            )*
        }

        /// The kinds [`Object`] parses, as (apiVersion, kind).
        pub const KINDS: &[(&str, &str)] = &[
            $( (<$variant as Resource>::API_VERSION, <$variant as Resource>::KIND), )*
        ];

        impl Object {
            /// Parses `doc` strictly (see [`strict`]) into the type its `apiVersion` and
            /// `kind` name; a kind outside [`KINDS`] is an error.
            pub fn parse(doc: &Value) -> Result<Object, String> {
                let field = |name: &str| doc.get(name).and_then(Value::as_str).unwrap_or("");
                let (api_version, kind) = (field("apiVersion"), field("kind"));
                $(
                    if api_version == <$variant as Resource>::API_VERSION
                        && kind == <$variant as Resource>::KIND
                    {
                        return strict::<$variant>(doc).map(Object::$variant);
                    }
                )*
                Err(format!(
                    "apiVersion `{api_version}` kind `{kind}` is not a kind meshbench deploys \
                     (known: {})",
                    KINDS
                        .iter()
                        .map(|(a, k)| format!("{a}/{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $( Object::$variant(o) => &o.metadata, )*
                }
            }

            /// The object's kind, e.g. `Deployment`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Object::$variant(_) => <$variant as Resource>::KIND, )*
                }
            }

            /// Whether objects of this kind live in a namespace.
            pub fn namespaced(&self) -> bool {
                match self {
                    $(
                        Object::$variant(_) => TypeId::of::<<$variant as Resource>::Scope>()
                            != TypeId::of::<ClusterResourceScope>(),
                    )*
                }
            }

            /// The object as JSON, as its type serializes it.
            pub fn to_value(&self) -> Value {
                match self {
                    $( Object::$variant(o) => serde_json::to_value(o), )*
                }
                .unwrap_or(Value::Null)
            }
        }
    };
}

kinds!(
    Namespace,
    ServiceAccount,
    ConfigMap,
    Secret,
    Service,
    Deployment,
    DaemonSet,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
    ServiceMonitor,
);

impl Object {
    /// The object's name (empty when it has none).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// The object's namespace (empty when it has none).
    pub fn namespace(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or("")
    }
}

/// Deserializes `doc` as `K`, serializes the result back and compares it with `doc`: any
/// difference is an error listing each differing path (see [`diff`]).
pub fn strict<K: DeserializeOwned + Serialize>(doc: &Value) -> Result<K, String> {
    let type_name = std::any::type_name::<K>()
        .rsplit("::")
        .next()
        .unwrap_or("?");
    let typed: K = serde_json::from_value(doc.clone())
        .map_err(|e| format!("does not deserialize as {type_name}: {e}"))?;
    let back = serde_json::to_value(&typed)
        .map_err(|e| format!("{type_name} does not serialize back: {e}"))?;
    let mut differences = Vec::new();
    diff("", doc, &back, &mut differences);
    if differences.is_empty() {
        Ok(typed)
    } else {
        Err(format!(
            "not strictly a {type_name}: {}",
            differences.join("; ")
        ))
    }
}

/// Appends to `out` one line per path where `typed` (the document after a round trip through
/// its type) differs from `original`: fields the type dropped, fields it added, values it
/// changed. Paths look like `spec.template.spec.containers[0].ports[0].containerPort`, with
/// keys that are not identifiers in brackets: `metadata.labels["app.kubernetes.io/name"]`.
pub fn diff(path: &str, original: &Value, typed: &Value, out: &mut Vec<String>) {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let path = join(path, key);
                match b.get(key) {
                    Some(back) => diff(&path, value, back, out),
                    None => out.push(format!(
                        "{path}: not a field of the type (unknown or misplaced), dropped"
                    )),
                }
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!(
                    "{}: added by the type (a required field left out?)",
                    join(path, key)
                ));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (value, back)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), value, back, out);
            }
        }
        _ if original == typed => {}
        _ => out.push(format!(
            "{}: `{original}` became `{typed}`",
            if path.is_empty() { "(document)" } else { path }
        )),
    }
}

fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// A parsed document and where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file (or template) and the document's position in it, e.g. `10-rbac.yaml#2`.
    pub origin: String,
    /// The document as JSON.
    pub value: Value,
    /// The document as its k8s-openapi type.
    pub object: Object,
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.object.kind(), self.object.name())?;
        if !self.object.namespace().is_empty() {
            write!(f, " in {}", self.object.namespace())?;
        }
        write!(f, " ({})", self.origin)
    }
}

/// Parses every document of the YAML `text` strictly; `origin` names the text in messages.
/// On failure, one line per document that failed (or one for the YAML itself).
pub fn parse_all(origin: &str, text: &str) -> Result<Vec<Document>, Vec<String>> {
    let values =
        crate::yaml::documents(text).map_err(|e| vec![format!("{origin}: not YAML: {e}")])?;
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let origin = format!("{origin}#{}", i + 1);
        match Object::parse(&value) {
            Ok(object) => docs.push(Document {
                origin,
                value,
                object,
            }),
            Err(e) => {
                let name = value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                errors.push(format!("{origin} ({name}): {e}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Parses every YAML file of `dir` (sorted by name) strictly.
pub fn parse_dir(dir: &Path) -> Result<Vec<Document>, Vec<String>> {
    let files =
        crate::yaml_files(dir).map_err(|e| vec![format!("cannot list {}: {e}", dir.display())])?;
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&file) {
            Ok(text) => match parse_all(&name, &text) {
                Ok(mut d) => docs.append(&mut d),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(format!("cannot read {}: {e}", file.display())),
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{
                        "name": "c",
                        "image": "i",
                        "env": [{"name": "A", "value": "1"}],
                        "ports": [{"name": "http", "containerPort": 8000}]
                    }]}
                }
            }
        })
    }

    #[test]
    fn a_valid_document_round_trips() {
        let object = Object::parse(&deployment()).expect("strict");
        assert_eq!(object.kind(), "Deployment");
        assert!(object.namespaced());
        assert_eq!(object.to_value(), deployment());
    }

    #[test]
    fn an_unknown_field_is_reported_with_its_path() {
        let mut doc = deployment();
        doc["spec"]["replica"] = json!(3);
        doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy:"] = json!("x");
        doc["metadata"]["labels"] = json!({"app.kubernetes.io/name": "x"});
        doc["metadata"]["label"] = json!({});
        let e = Object::parse(&doc).expect_err("unknown fields");
        assert!(e.contains("spec.replica: not a field"), "{e}");
        assert!(e.contains("metadata.label: not a field"), "{e}");
        assert!(
            e.contains(r#"spec.template.spec.containers[0]["imagePullPolicy:"]: not a field"#),
            "{e}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused() {
        let mut doc = deployment();
        doc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!(1);
        let e = Object::parse(&doc).expect_err("env values are strings");
        assert!(e.contains("does not deserialize"), "{e}");
    }

    #[test]
    fn kinds_and_versions_must_be_known() {
        let mut doc = deployment();
        doc["apiVersion"] = json!("extensions/v1beta1");
        assert!(Object::parse(&doc)
            .expect_err("old API")
            .contains("not a kind"));
        let doc = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
        assert!(Object::parse(&doc).is_err());
    }

    #[test]
    fn cluster_scoped_kinds_are_known() {
        let doc = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        assert!(!Object::parse(&doc).expect("namespace").namespaced());
    }

    #[test]
    fn diff_names_changed_and_added_values() {
        let mut out = Vec::new();
        diff(
            "",
            &json!({"a": {"b": [1, 2]}, "c": "x"}),
            &json!({"a": {"b": [1, 3]}, "c": "x", "d": 0}),
            &mut out,
        );
        assert_eq!(
            out,
            [
                "a.b[1]: `2` became `3`",
                "d: added by the type (a required field left out?)"
            ]
        );
    }
}
