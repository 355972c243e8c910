//! How the generated clients plug into the hand-written transport: one `ClientHooks` impl per
//! generated client (the public builder-style ones and the `direct` ones the hand-written layer
//! calls), each delegating to [`CallState`].

use futures::FutureExt;
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};

use crate::{
    generated::{biometrics, compliance},
    transport::CallState,
};

macro_rules! hooks {
    ($client:ty, $answer:expr) => {
        impl ClientHooks<CallState> for $client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner().pre(request, info).await.map_err(Error::Custom)
            }

            // The transport's future itself, not one more `async` layer around it: a call's
            // future is moved as a whole, so each layer costs a copy of it.
            fn exec(
                &self,
                request: reqwest::Request,
                info: &OperationInfo,
            ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
                self.inner().exec(request, info).map($answer)
            }
        }
    };
}

// The public generated clients hand every answer to the caller as it came.
hooks!(compliance::Client, std::convert::identity);
hooks!(biometrics::Client, std::convert::identity);
// The hand-written methods keep only the value of a success (`CallState::finish`).
hooks!(compliance::direct::Client, without_success_headers);
hooks!(biometrics::direct::Client, without_success_headers);

/// A success without its headers: progenitor copies a response's headers into the value it
/// returns, and the hand-written methods drop them unread (an error keeps them: its request id
/// and `Retry-After` are read from them).
fn without_success_headers(
    answer: reqwest::Result<reqwest::Response>,
) -> reqwest::Result<reqwest::Response> {
    answer.map(|mut response| {
        if response.status().is_success() {
            *response.headers_mut() = reqwest::header::HeaderMap::new();
        }
        response
    })
}

macro_rules! constructor {
    ($name:ident, $client:ty) => {
        /// A generated client for calls with `state` (one call: `state` collects its outcome).
        pub(crate) fn $name(state: CallState) -> $client {
            let shared = state.shared.clone();
            <$client>::new_with_client(&shared.base_url, shared.http.clone(), state)
        }
    };
}

constructor!(compliance_client, compliance::Client);
constructor!(biometrics_client, biometrics::Client);
constructor!(compliance_direct, compliance::direct::Client);
constructor!(biometrics_direct, biometrics::direct::Client);
