//! Results checked against their published JSON Schema, `docs/result.v1.schema.json`.

use serde_json::Value;

/// The published schema of a benchmark result.
pub fn result_schema_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/result.v1.schema.json")
}

/// The violations of `result` against the result schema (draft 2020-12, formats
/// asserted), one line each.
pub fn result_errors(result: &Value) -> Vec<String> {
    let path = result_schema_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the schema does not compile: {e}"));
    validator
        .iter_errors(result)
        .map(|e| format!("  at {} (schema {}): {e}", e.instance_path, e.schema_path))
        .collect()
}

/// Panics, naming every violation, unless `result` validates against the result schema.
pub fn assert_valid_result(result: &Value) {
    let errors = result_errors(result);
    assert!(
        errors.is_empty(),
        "the result violates result.v1.schema.json:\n{}",
        errors.join("\n")
    );
}
