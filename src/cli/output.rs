//! JSON as the command line prints it: `{"id": 1, "username": "u"}`, with a
//! space after every `:` and `,`, the form tooling was written against.

use serde_json::Value;

/// Prints `value` on one line of standard output.
pub fn print_json(value: &Value) {
    println!("{}", spaced(value));
}

/// `value` as one line, `", "` and `": "` between items.
pub fn spaced(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(spaced).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), spaced(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn spaced_like_the_contract() {
        assert_eq!(
            super::spaced(&json!({"id": 7, "username": "U"})),
            r#"{"id": 7, "username": "U"}"#
        );
        assert_eq!(
            super::spaced(&json!({"a": [1, null]})),
            r#"{"a": [1, null]}"#
        );
    }
}
