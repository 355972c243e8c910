//! How the generated clients plug into the hand-written transport: one `ClientHooks` impl per
//! generated client, each delegating to [`CallState`].

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};

use crate::{
    generated::{biometrics, compliance},
    transport::CallState,
};

macro_rules! hooks {
    ($module:ident, $constructor:ident) => {
        impl ClientHooks<CallState> for $module::Client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner().pre(request, info).await.map_err(Error::Custom)
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                info: &OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                self.inner().exec(request, info).await
            }
        }

        /// A generated client for one call with `state`.
        pub(crate) fn $constructor(state: &CallState) -> $module::Client {
            $module::Client::new_with_client(
                &state.shared.base_url,
                state.shared.http.clone(),
                state.clone(),
            )
        }
    };
}

hooks!(compliance, compliance_client);
hooks!(biometrics, biometrics_client);
