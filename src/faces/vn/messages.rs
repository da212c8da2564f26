//! Every text the virtual-number face sends. The original service speaks
//! English only; the refusals below are VN_API.md's table, word for word, and
//! the validation messages follow Joi's wording (see `input.rs`).

pub const UNSUBSCRIBED: &str = "Virtual number has been unsubscribed successfully.";
pub const PURCHASED: &str = "Virtual number has been purchased successfully.";
/// The lists have no message of their own in the spec; this one says what
/// happened, like the two above.
pub const LISTED: &str = "Virtual numbers fetched successfully.";

pub const INVALID_TOKEN: &str = "Invalid token";
pub const TOKEN_EXPIRED: &str = "Token expired";
pub const NOT_FOUND_NUMBER: &str = "Virtual number not found";
pub const NOT_AVAILABLE: &str = "Virtual number is not available";
pub const POSTPAID_DISABLED: &str = "Postpaid billing is not enabled for this account";
pub const INVALID_PRODUCT: &str = "Invalid product for the selected recurring time";
pub const CARD_REFUSED: &str =
    "Card payments are not supported by this server; use purchase-postpaid";

pub const INVALID_JSON: &str = "Invalid JSON body";
pub const TOO_LARGE: &str = "Request body is too large";
pub const TOO_MANY: &str = "Too many requests";
/// The spec has no row for a timeout: the client's fault (408) or ours (503).
pub const REQUEST_TIMEOUT: &str = "Request timeout";
pub const UNAVAILABLE: &str = "Service unavailable";
/// An unknown route, as the original's catch-all answers it.
pub const NOT_FOUND_ROUTE: &str = "Not found";
/// A method a route does not serve.
pub const METHOD_NOT_ALLOWED: &str = "Method not allowed";
pub const INTERNAL: &str = "Internal server error";

/// `"<field>" is required`.
pub fn required(field: &str) -> String {
    format!("\"{field}\" is required")
}

/// `"<field>" must be a <kind>` (`string`, `boolean`, `number`).
pub fn must_be(field: &str, kind: &str) -> String {
    format!("\"{field}\" must be a {kind}")
}

/// `"<field>" is not allowed to be empty`: Joi's strings refuse `""`.
pub fn empty(field: &str) -> String {
    format!("\"{field}\" is not allowed to be empty")
}

/// `"<field>" must be one of [a, b]`.
pub fn one_of(field: &str, allowed: &[&str]) -> String {
    format!("\"{field}\" must be one of [{}]", allowed.join(", "))
}

pub fn integer(field: &str) -> String {
    format!("\"{field}\" must be an integer")
}

/// Joi's `number.unsafe`: beyond 2^53 − 1, where a JavaScript number stops
/// being exact.
pub fn unsafe_number(field: &str) -> String {
    format!("\"{field}\" must be a safe number")
}

pub fn at_least(field: &str, min: i64) -> String {
    format!("\"{field}\" must be greater than or equal to {min}")
}

pub fn at_most(field: &str, max: i64) -> String {
    format!("\"{field}\" must be less than or equal to {max}")
}

/// Joi's `string.pattern.base`, which quotes the value and the pattern.
pub fn pattern(field: &str, value: &str, regex: &str) -> String {
    format!("\"{field}\" with value \"{value}\" fails to match the required pattern: {regex}")
}
