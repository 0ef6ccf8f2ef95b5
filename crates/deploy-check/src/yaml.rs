//! YAML documents as JSON values (`serde-saphyr`, the parser kube itself uses).
//!
//! Duplicate keys are an error; empty documents (only comments, or nothing between two
//! `---`) are skipped, as kubectl and Helm skip them.

use serde_json::Value;

/// Every non-empty document of a (multi-document) YAML text, as JSON values.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| e.to_string())
}

/// A single-document YAML text (a values file, `Chart.yaml`) as a JSON value.
pub fn document(text: &str) -> Result<Value, String> {
    let mut docs = documents(text)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => Ok(Value::Object(Default::default())),
        n => Err(format!("expected one YAML document, found {n}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multi_document_files_split_and_skip_empty_documents() {
        let text = "# header only\n---\na: 1\n---\n# nothing\n---\nb: [x, \"8000\"]\n";
        assert_eq!(
            documents(text).expect("parses"),
            vec![json!({"a": 1}), json!({"b": ["x", "8000"]})]
        );
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        assert!(documents("a: 1\na: 2\n").is_err());
    }
}
