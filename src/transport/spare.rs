//! The copy of a request kept for a retry or a 401 replay.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http_body_util::BodyExt;
use reqwest::{Body, Request};

/// A copy of `request` that shares its buffered body, or `None` for a streaming body.
///
/// Like `Request::try_clone` (method, URL, headers, version, timeout; the crate's requests set
/// no other extension), without its per-call cost: `try_clone` allocates an extensions map to
/// copy even an unset timeout into it. The body's bytes are moved out once and then shared by
/// reference count.
pub(super) fn spare(request: &mut Request) -> Option<Request> {
    let body = match request.body_mut() {
        None => None,
        Some(body) => {
            body.as_bytes()?;
            let bytes = take_buffered(body);
            *body = Body::from(bytes.clone());
            Some(Body::from(bytes))
        }
    };
    let mut copy = Request::new(request.method().clone(), request.url().clone());
    *copy.headers_mut() = request.headers().clone();
    *copy.version_mut() = request.version();
    if let Some(timeout) = request.timeout() {
        *copy.timeout_mut() = Some(*timeout);
    }
    *copy.body_mut() = body;
    Some(copy)
}

/// The bytes of a buffered body (reqwest yields them whole, at once, in one frame).
fn take_buffered(body: &mut Body) -> Bytes {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(body.frame()).poll(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_copy_carries_method_url_headers_timeout_and_the_same_body() {
        let client = reqwest::Client::new();
        let body = Bytes::from(vec![7u8; 1 << 20]);
        let mut request = client
            .post("http://127.0.0.1:1/x?q=1")
            .header("x-a", "1")
            .timeout(Duration::from_secs(3))
            .body(body.clone())
            .build()
            .unwrap();
        let copy = spare(&mut request).unwrap();
        for r in [&request, &copy] {
            assert_eq!(r.method(), reqwest::Method::POST);
            assert_eq!(r.url().as_str(), "http://127.0.0.1:1/x?q=1");
            assert_eq!(r.headers()["x-a"], "1");
            assert_eq!(r.timeout(), Some(&Duration::from_secs(3)));
            let sent = r.body().and_then(Body::as_bytes).unwrap();
            assert_eq!(sent, &body[..]);
            // Shared, not copied: a 1 MiB body stays one buffer.
            assert_eq!(sent.as_ptr(), body.as_ptr());
        }
    }

    #[test]
    fn no_body_and_an_empty_body_are_kept_as_they_are() {
        let client = reqwest::Client::new();
        let mut request = client.get("http://127.0.0.1:1/").build().unwrap();
        assert!(spare(&mut request).unwrap().body().is_none());
        let mut request = client.post("http://127.0.0.1:1/").body("").build().unwrap();
        let copy = spare(&mut request).unwrap();
        assert_eq!(copy.body().and_then(Body::as_bytes), Some(&b""[..]));
        assert_eq!(request.body().and_then(Body::as_bytes), Some(&b""[..]));
    }

    #[test]
    fn a_streaming_body_has_no_copy_and_stays_in_the_request() {
        let client = reqwest::Client::new();
        let form = reqwest::multipart::Form::new().text("a", "b");
        let mut request = client
            .post("http://127.0.0.1:1/")
            .multipart(form)
            .build()
            .unwrap();
        assert!(spare(&mut request).is_none());
        assert!(request.body().is_some());
    }
}
