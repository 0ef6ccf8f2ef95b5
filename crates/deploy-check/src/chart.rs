//! The Helm chart, rendered without Helm.
//!
//! No `helm` binary can be had on the machines this project builds on, so the chart's
//! templates keep to a small subset of Helm's template language (documented in the chart's
//! README) and are rendered here with `gtmpl` (Go's template language in Rust) plus Helm's
//! `quote`. [`check_subset`] refuses anything outside the subset, so what this renderer
//! produces is what Helm produces. The renderer is stricter than Helm in one way: a value
//! the templates name but the values lack is an error (Helm would print nothing).
//!
//! The subset, inside `{{ }}` or `{{- }}`:
//!
//! - `.Values.a.b`, `.Release.Name`, `.Release.Namespace`, `.Release.Service`,
//!   `.Chart.Name`, `.Chart.Version`, `.Chart.AppVersion`, each also from the root as
//!   `$.Values.a.b` (the only form allowed inside `range`), optionally piped to `quote`;
//! - `.` (inside `range` only), optionally piped to `quote`;
//! - `if REF`, `range REF` (REF a `.Values` or `$.Values` path) and `end`;
//! - comments `/* … */`.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::objects::{parse_all, Document};
use crate::yaml;

/// The release a chart is rendered for (`.Release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `.Release.Name`.
    pub name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
}

impl Release {
    /// A release called `name` in `namespace`.
    pub fn new(name: &str, namespace: &str) -> Release {
        Release {
            name: name.to_string(),
            namespace: namespace.to_string(),
        }
    }
}

/// One file of the chart's `templates/` directory.
#[derive(Debug, Clone)]
pub struct Template {
    /// The file's name, e.g. `server.yaml`.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// A chart read from its directory.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The chart's directory.
    pub dir: PathBuf,
    /// `Chart.yaml`.
    pub metadata: Value,
    /// `values.yaml`: the default values.
    pub values: Value,
    /// `values.schema.json`.
    pub schema: Value,
    /// The templates, sorted by name (partials, `_*`, included).
    pub templates: Vec<Template>,
}

/// A chart's templates rendered for one release and set of values.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Each manifest template's name and output.
    pub manifests: Vec<Template>,
    /// `NOTES.txt`, rendered, when the chart has one.
    pub notes: Option<String>,
}

impl Chart {
    /// Reads `Chart.yaml`, `values.yaml`, `values.schema.json` and `templates/` of `dir`.
    pub fn load(dir: &Path) -> Result<Chart, String> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
        };
        let metadata =
            yaml::document(&read("Chart.yaml")?).map_err(|e| format!("Chart.yaml: {e}"))?;
        let values =
            yaml::document(&read("values.yaml")?).map_err(|e| format!("values.yaml: {e}"))?;
        let schema: Value = serde_json::from_str(&read("values.schema.json")?)
            .map_err(|e| format!("values.schema.json: {e}"))?;
        let mut templates = Vec::new();
        let entries = std::fs::read_dir(dir.join("templates"))
            .map_err(|e| format!("cannot list {}/templates: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if !path.is_file() {
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            templates.push(Template { name, text });
        }
        templates.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Chart {
            dir: dir.to_path_buf(),
            metadata,
            values,
            schema,
            templates,
        })
    }

    /// The chart's default values with each of `overrides` merged over them in turn, as
    /// `helm install -f a.yaml -f b.yaml` merges them.
    pub fn values_with(&self, overrides: &[&Value]) -> Value {
        let mut values = self.values.clone();
        for o in overrides {
            merge(&mut values, o);
        }
        values
    }

    /// The violations of `values` against `values.schema.json`, one line each.
    pub fn validate_values(&self, values: &Value) -> Vec<String> {
        let validator = match jsonschema::draft7::new(&self.schema) {
            Ok(v) => v,
            Err(e) => return vec![format!("values.schema.json does not compile: {e}")],
        };
        validator
            .iter_errors(values)
            .map(|e| format!("values at `{}`: {e}", e.instance_path))
            .collect()
    }

    /// Renders every template for `release` with `values` (already merged: see
    /// [`Chart::values_with`]), after checking each keeps to the subset ([`check_subset`]),
    /// that the values pass the schema, and that no number among them would print
    /// differently in Helm.
    pub fn render(&self, release: &Release, values: &Value) -> Result<Rendered, Vec<String>> {
        let mut errors: Vec<String> = self
            .templates
            .iter()
            .flat_map(|t| check_subset(&t.name, &t.text))
            .collect();
        errors.extend(self.validate_values(values));
        helm_printable_numbers("", values, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let context = to_gtmpl(&json!({
            "Values": values,
            "Release": {
                "Name": release.name,
                "Namespace": release.namespace,
                "Service": "Helm",
                "IsInstall": true,
                "IsUpgrade": false,
                "Revision": 1,
            },
            "Chart": chart_object(&self.metadata),
        }));
        let mut rendered = Rendered {
            manifests: Vec::new(),
            notes: None,
        };
        for t in &self.templates {
            if t.name.starts_with('_') {
                continue;
            }
            match render_one(&t.text, &context) {
                Ok(text) if t.name == "NOTES.txt" => rendered.notes = Some(text),
                Ok(text) => rendered.manifests.push(Template {
                    name: t.name.clone(),
                    text,
                }),
                Err(e) => errors.push(format!("templates/{}: {e}", t.name)),
            }
        }
        if errors.is_empty() {
            Ok(rendered)
        } else {
            Err(errors)
        }
    }

    /// Renders the chart (see [`Chart::render`]) and parses every document strictly.
    pub fn documents(
        &self,
        release: &Release,
        values: &Value,
    ) -> Result<Vec<Document>, Vec<String>> {
        let rendered = self.render(release, values)?;
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        for m in &rendered.manifests {
            match parse_all(&format!("templates/{}", m.name), &m.text) {
                Ok(mut d) => docs.append(&mut d),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(docs)
        } else {
            Err(errors)
        }
    }
}

/// Merges `over` into `base` as Helm merges values files: maps key by key, recursively;
/// anything else (lists included) replaced; a `null` removes the key.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (key, value) in o {
                if value.is_null() {
                    b.remove(key);
                } else if let Some(existing) = b.get_mut(key) {
                    merge(existing, value);
                } else {
                    b.insert(key.clone(), value.clone());
                }
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// `.Chart` as Helm builds it from `Chart.yaml`: `name` → `Name`, `appVersion` →
/// `AppVersion`, `apiVersion` → `APIVersion`.
fn chart_object(metadata: &Value) -> Value {
    let mut chart = Map::new();
    if let Value::Object(m) = metadata {
        for (key, value) in m {
            let key = match key.as_str() {
                "apiVersion" => "APIVersion".to_string(),
                k => {
                    let mut chars = k.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default()
                }
            };
            chart.insert(key, value.clone());
        }
    }
    Value::Object(chart)
}

/// Helm reads values as JSON numbers (float64) and prints them with Go's `%v`: a million
/// or more comes out as `1e+06`, a fraction as a float. Such numbers must be quoted strings
/// in values.
fn helm_printable_numbers(path: &str, value: &Value, errors: &mut Vec<String>) {
    match value {
        Value::Number(n) => {
            let printable = n.as_i64().is_some_and(|i| i.abs() < 1_000_000)
                || n.as_u64().is_some_and(|u| u < 1_000_000);
            if !printable {
                errors.push(format!(
                    "values at `{path}`: {n} would print as a float in Helm (e.g. 1e+06): \
                     make it a quoted string"
                ));
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                helm_printable_numbers(&format!("{path}/{i}"), v, errors);
            }
        }
        Value::Object(o) => {
            for (k, v) in o {
                helm_printable_numbers(&format!("{path}/{k}"), v, errors);
            }
        }
        _ => {}
    }
}

/// JSON as a gtmpl value. Maps become objects, whose missing fields are an error when a
/// template names them (a map would answer "no value").
fn to_gtmpl(value: &Value) -> gtmpl::Value {
    match value {
        Value::Null => gtmpl::Value::Nil,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into(),
            (None, Some(i)) => i.into(),
            (None, None) => n.as_f64().unwrap_or(f64::NAN).into(),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(a) => gtmpl::Value::Array(a.iter().map(to_gtmpl).collect()),
        Value::Object(o) => {
            gtmpl::Value::Object(o.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect())
        }
    }
}

fn render_one(text: &str, context: &gtmpl::Value) -> Result<String, String> {
    let mut template = gtmpl::Template::default();
    template.add_func("quote", quote);
    template.parse(text).map_err(|e| e.to_string())?;
    template
        .render(&gtmpl::Context::from(context.clone()))
        .map_err(|e| e.to_string())
}

/// Helm's (Sprig's) `quote`: each argument as a Go double-quoted string, joined by spaces.
fn quote(args: &[gtmpl::Value]) -> Result<gtmpl::Value, gtmpl::FuncError> {
    let mut parts = Vec::with_capacity(args.len());
    for arg in args {
        let text = match arg {
            gtmpl::Value::String(s) => s.clone(),
            gtmpl::Value::Number(n) => n.to_string(),
            gtmpl::Value::Bool(b) => b.to_string(),
            other => {
                return Err(gtmpl::FuncError::Generic(format!(
                    "quote: cannot quote {other}"
                )))
            }
        };
        parts.push(go_quote(&text));
    }
    Ok(parts.join(" ").into())
}

/// `s` as Go's `strconv.Quote` writes it (its escapes are valid in YAML double quotes).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What an action of the subset is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Open,
    End,
    Print,
    Comment,
}

/// The template actions of `text` outside the documented subset, and unbalanced blocks,
/// one line each (empty when the template keeps to the subset).
pub fn check_subset(name: &str, text: &str) -> Vec<String> {
    let mut errors = Vec::new();
    // The blocks open at this point: true for a `range` (where `.` is the element).
    let mut blocks: Vec<bool> = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        let line = text[..offset + start].matches('\n').count() + 1;
        let Some(len) = rest[start..].find("}}") else {
            errors.push(format!("templates/{name}:{line}: `{{{{` is never closed"));
            break;
        };
        let raw = &rest[start + 2..start + len];
        offset += start + len + 2;
        rest = &rest[start + len + 2..];
        let action = trim_markers(raw);
        let in_range = blocks.iter().any(|r| *r);
        match classify(action, in_range) {
            Ok(Action::Open) => blocks.push(action.starts_with("range")),
            Ok(Action::End) => {
                if blocks.pop().is_none() {
                    errors.push(format!("templates/{name}:{line}: `end` without a block"));
                }
            }
            Ok(Action::Print | Action::Comment) => {}
            Err(why) => errors.push(format!("templates/{name}:{line}: `{{{{{raw}}}}}`: {why}")),
        }
    }
    if !blocks.is_empty() {
        errors.push(format!(
            "templates/{name}: {} block(s) never ended",
            blocks.len()
        ));
    }
    errors
}

/// An action without its trim markers (`{{- ` and ` -}}`) and surrounding space.
fn trim_markers(raw: &str) -> &str {
    let mut action = raw;
    if let Some(a) = action.strip_prefix('-') {
        if a.starts_with(char::is_whitespace) {
            action = a;
        }
    }
    if let Some(a) = action.strip_suffix('-') {
        if a.ends_with(char::is_whitespace) {
            action = a;
        }
    }
    action.trim()
}

fn classify(action: &str, in_range: bool) -> Result<Action, String> {
    if action.starts_with("/*") && action.ends_with("*/") {
        return Ok(Action::Comment);
    }
    let words: Vec<&str> = action.split_whitespace().collect();
    let reference = |r: &str| -> Result<(), String> {
        if r == "." {
            return if in_range {
                Ok(())
            } else {
                Err("`.` outside `range`".into())
            };
        }
        if in_range && !r.starts_with("$.") {
            return Err("inside `range`, name values from the root: `$.Values…`".into());
        }
        if is_values_path(r) || is_release_or_chart(r) {
            Ok(())
        } else {
            Err(format!(
                "`{r}` is not a .Values, .Release or .Chart field of the subset"
            ))
        }
    };
    match words.as_slice() {
        ["end"] => Ok(Action::End),
        ["if" | "range", r] if is_values_path(r) => {
            if in_range && !r.starts_with("$.") {
                Err("inside `range`, name values from the root: `$.Values…`".into())
            } else {
                Ok(Action::Open)
            }
        }
        ["if" | "range", ..] => Err("`if` and `range` take one .Values path".into()),
        [r] => reference(r).map(|()| Action::Print),
        [r, "|", "quote"] => reference(r).map(|()| Action::Print),
        _ => Err("outside the chart's template subset (see the chart's README)".into()),
    }
}

fn root_relative(r: &str) -> Option<&str> {
    r.strip_prefix("$.").or_else(|| r.strip_prefix('.'))
}

fn is_values_path(r: &str) -> bool {
    let identifier = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    root_relative(r)
        .and_then(|p| p.strip_prefix("Values."))
        .is_some_and(|path| path.split('.').all(identifier))
}

fn is_release_or_chart(r: &str) -> bool {
    matches!(
        root_relative(r),
        Some(
            "Release.Name"
                | "Release.Namespace"
                | "Release.Service"
                | "Chart.Name"
                | "Chart.Version"
                | "Chart.AppVersion"
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_is_accepted() {
        let text = "a: {{ .Values.a.b }}\nb: {{ $.Release.Name }}-{{ .Chart.AppVersion | quote }}\n\
                    {{- if .Values.on }}\n{{- range .Values.list }}\n- {{ . | quote }} {{ $.Values.x }}\n\
                    {{- end }}\n{{- end }}\n{{/* a comment */}}{{- /* trimmed */ -}}\n";
        assert_eq!(check_subset("t", text), Vec::<String>::new());
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "{{ include \"x\" . }}",
            "{{ .Values.x | default \"a\" }}",
            "{{ toYaml .Values.x | nindent 4 }}",
            "{{ .Capabilities.KubeVersion }}",
            "{{ .Release.Revision }}",
            "{{ . }}",
            "{{- range .Values.l }}{{ .Values.x }}{{- end }}",
            "{{ if .Values.a }}x{{ else }}y{{ end }}",
            "{{ $x := .Values.a }}",
            "{{ if eq .Values.a 1 }}{{ end }}",
            "{{ end }}",
            "{{ if .Values.a }}",
            "{{ .Values.a",
        ] {
            assert!(!check_subset("t", bad).is_empty(), "accepted: {bad}");
        }
    }

    #[test]
    fn quote_writes_go_strings() {
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        let quoted = quote(&[gtmpl::Value::from(8000u64)]).expect("a number quotes");
        assert_eq!(quoted, gtmpl::Value::from("\"8000\""));
        assert!(quote(&[gtmpl::Value::Nil]).is_err());
    }

    #[test]
    fn values_merge_as_helm_merges_them() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": 1});
        merge(
            &mut base,
            &json!({"a": {"c": [3]}, "d": {"y": 1}, "e": null, "f": true}),
        );
        assert_eq!(
            base,
            json!({"a": {"b": 1, "c": [3]}, "d": {"y": 1}, "f": true})
        );
    }

    #[test]
    fn rendering_follows_go_templates() {
        let context = to_gtmpl(&json!({
            "Values": {"n": 2, "s": "x y", "on": false, "l": ["a", "b"]},
            "Release": {"Name": "r"},
        }));
        let text = "n: {{ .Values.n }}\ns: {{ .Values.s | quote }}\n{{- if .Values.on }}\nhidden: 1\n{{- end }}\n\
                    {{- range .Values.l }}\n- {{ $.Release.Name }}-{{ . }}\n{{- end }}\n";
        assert_eq!(
            render_one(text, &context).expect("renders"),
            "n: 2\ns: \"x y\"\n- r-a\n- r-b\n"
        );
        assert!(render_one("{{ .Values.missing }}", &context).is_err());
    }

    #[test]
    fn numbers_helm_would_print_as_floats_are_refused() {
        let mut errors = Vec::new();
        helm_printable_numbers(
            "",
            &json!({"a": 999_999, "b": 1_000_000, "c": 0.5}),
            &mut errors,
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
