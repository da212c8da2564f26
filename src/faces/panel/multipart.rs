//! `multipart/form-data` bodies (Postman's form-data, PHP Guzzle's
//! `multipart`), parsed by `multer`.
//!
//! The edge has already read the whole body (within the size limit), so the
//! parser's stream is one chunk in memory and its futures never wait on
//! anything: they are polled to completion here, without a runtime.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde_json::{Map, Value};

/// The body's fields: each text part a string (a later part of the same name
/// replaces an earlier one, as PHP's `$_POST` does), each file part an empty
/// object, which no scalar rule accepts. `None` when the Content-Type has no
/// boundary or the body does not parse.
pub fn fields(content_type: &str, body: &[u8]) -> Option<Map<String, Value>> {
    let boundary = multer::parse_boundary(content_type).ok()?;
    let bytes = bytes::Bytes::copy_from_slice(body);
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Map::new();
    loop {
        let field = ready(multipart.next_field())?.ok()?;
        let Some(field) = field else {
            return Some(out);
        };
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some();
        let text = ready(field.text()).and_then(Result::ok)?;
        let value = if is_file {
            Value::Object(Map::new())
        } else {
            Value::String(text)
        };
        if !name.is_empty() {
            out.insert(name, value);
        }
    }
}

/// Polls a future whose input is all in memory to its end; `None` if it
/// waits (which would be a parser that waits on nothing: refuse the body).
fn ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parts_are_strings_and_file_parts_are_not() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"number_id\"\r\n\r\n10\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
            Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
        let got = fields("multipart/form-data; boundary=XyZ", body.as_bytes()).expect("parses");
        assert_eq!(
            Value::Object(got),
            serde_json::json!({"number_id": "10", "doc": {}})
        );
    }

    #[test]
    fn a_body_that_does_not_parse_is_refused() {
        assert!(fields("multipart/form-data", b"x").is_none());
        assert!(fields("multipart/form-data; boundary=XyZ", b"--nothing\r\n").is_none());
    }
}
