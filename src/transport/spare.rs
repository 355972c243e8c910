//! What a call keeps of its request for a retry or a 401 replay.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::BodyExt;
use reqwest::{header::HeaderMap, Body, Method, Request, Url, Version};

/// What a retry or a replay needs of a request besides its headers, which
/// `CallState::resend` rebuilds: every call keeps one, and copying the headers of every
/// call for a resend that rarely comes would cost more than all the rest.
#[derive(Debug)]
pub(crate) struct Spare {
    method: Method,
    url: Url,
    version: Version,
    timeout: Option<Duration>,
    /// The buffered body, shared with the request (an upload is megabytes): not copied.
    body: Option<Bytes>,
}

impl Spare {
    /// The spare of `request`, or `None` for a streaming body (sent once).
    pub(super) fn take(request: &mut Request) -> Option<Spare> {
        let body = match request.body_mut() {
            None => None,
            Some(body) => {
                body.as_bytes()?;
                let bytes = take_buffered(body);
                *body = Body::from(bytes.clone());
                Some(bytes)
            }
        };
        Some(Spare {
            method: request.method().clone(),
            url: request.url().clone(),
            version: request.version(),
            timeout: request.timeout().copied(),
            body,
        })
    }

    /// The request again, with `headers`.
    pub(super) fn into_request(self, headers: HeaderMap) -> Request {
        let mut request = Request::new(self.method, self.url);
        *request.headers_mut() = headers;
        *request.version_mut() = self.version;
        *request.timeout_mut() = self.timeout;
        *request.body_mut() = self.body.map(Body::from);
        request
    }
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
    use super::*;

    #[test]
    fn the_request_again_has_method_url_timeout_and_the_same_body() {
        let client = reqwest::Client::new();
        let body = Bytes::from(vec![7u8; 1 << 20]);
        let mut request = client
            .post("http://127.0.0.1:1/x?q=1")
            .header("x-a", "1")
            .timeout(Duration::from_secs(3))
            .body(body.clone())
            .build()
            .unwrap();
        let spare = Spare::take(&mut request).unwrap();
        let again = spare.into_request(request.headers().clone());
        for r in [&request, &again] {
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
        let again = Spare::take(&mut request)
            .unwrap()
            .into_request(HeaderMap::new());
        assert!(again.body().is_none());
        assert_eq!(again.timeout(), None);
        let mut request = client.post("http://127.0.0.1:1/").body("").build().unwrap();
        let again = Spare::take(&mut request)
            .unwrap()
            .into_request(HeaderMap::new());
        assert_eq!(again.body().and_then(Body::as_bytes), Some(&b""[..]));
        assert_eq!(request.body().and_then(Body::as_bytes), Some(&b""[..]));
    }

    #[test]
    fn a_streaming_body_has_no_spare_and_stays_in_the_request() {
        let client = reqwest::Client::new();
        let form = reqwest::multipart::Form::new().text("a", "b");
        let mut request = client
            .post("http://127.0.0.1:1/")
            .multipart(form)
            .build()
            .unwrap();
        assert!(Spare::take(&mut request).is_none());
        assert!(request.body().is_some());
    }
}
