//! Rewriting a response for progenitor: tolerant acknowledgements, rebuilt bodies.

use bytes::Bytes;
use reqwest::{header::HeaderValue, Response, StatusCode};

/// Whether an acknowledgement can go to progenitor as it is: a 200 with a non-empty body of a
/// known length (the common case, read once by progenitor). Anything else (201/202/204, an
/// empty or chunked body) is rewritten by [`acknowledgement`].
pub(crate) fn plain_acknowledgement(response: &Response) -> bool {
    response.status() == StatusCode::OK && response.content_length().is_some_and(|n| n > 0)
}

/// An acknowledgement response as a 200 with a JSON body (`{}` when the server sent none).
pub(crate) async fn acknowledgement(response: Response) -> reqwest::Result<Response> {
    let mut headers = response.headers().clone();
    let body = response.bytes().await?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Bytes::from_static(b"{}")
    } else {
        body
    };
    Ok(rebuild(StatusCode::OK, headers, body))
}

pub(crate) fn rebuild(
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
) -> Response {
    let mut builder = http::Response::builder().status(status);
    if let Some(h) = builder.headers_mut() {
        *h = headers;
        h.remove(reqwest::header::CONTENT_LENGTH);
        h.remove(reqwest::header::TRANSFER_ENCODING);
    }
    match builder.body(body) {
        Ok(r) => Response::from(r),
        Err(_) => Response::from(http::Response::new(Bytes::new())),
    }
}
