//! [`ComplianceClient`]: the compliance API with its token lifecycle.

use std::sync::Arc;

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo, ResponseValue};
use reqwest::header::CONTENT_LENGTH;

use crate::{
    auth::oauth::TokenSource,
    client::builder::{ClientBuilder, ComplianceCredentials},
    config::{env_var_or, OAuthCredentials, Tenant, COMPLIANCE_URL},
    context::EndUserContext,
    generated::{compliance, compliance::types},
    transport::{ApiShared, CallAuth, CallState, ContextHeaders, TokenProvider},
    Error, Result,
};

/// Client of the compliance API (`api.preventor.com`).
///
/// Cheap to clone; clones share the HTTP connection pool and the access token.
#[derive(Clone, Debug)]
pub struct ComplianceClient {
    shared: Arc<ApiShared>,
    tokens: Arc<TokenSource>,
    context: EndUserContext,
    /// `context` as headers, built once.
    context_headers: Arc<ContextHeaders>,
}

/// Builder of a [`ComplianceClient`].
pub type ComplianceClientBuilder = ClientBuilder<ComplianceCredentials>;

impl ComplianceClient {
    /// A builder with the production URL and default options.
    pub fn builder() -> ComplianceClientBuilder {
        ClientBuilder::new(COMPLIANCE_URL)
    }

    pub(crate) fn new(
        shared: Arc<ApiShared>,
        credentials: OAuthCredentials,
        context: EndUserContext,
    ) -> Self {
        ComplianceClient {
            tokens: Arc::new(TokenSource::new(shared.clone(), credentials)),
            context_headers: shared.context_headers(&context),
            shared,
            context,
        }
    }

    /// A client configured from `PREVENTOR_*` variables: those of [`Tenant::from_env`] and
    /// [`OAuthCredentials::from_env`], and `PREVENTOR_COMPLIANCE_URL` (optional).
    pub fn from_env() -> Result<Self> {
        crate::config::require_env(&crate::config::COMPLIANCE_ENV)?;
        Self::builder()
            .base_url(env_var_or("PREVENTOR_COMPLIANCE_URL", COMPLIANCE_URL))
            .tenant(Tenant::from_env()?)
            .credentials(OAuthCredentials::from_env()?)
            .build()
    }

    /// This client with `context` over its default context (for one call or a series of calls).
    pub fn with_context(&self, context: &EndUserContext) -> Result<Self> {
        context.validate()?;
        let context = context.merged_over(&self.context);
        Ok(ComplianceClient {
            context_headers: self.shared.context_headers(&context),
            context,
            ..self.clone()
        })
    }

    /// The state of one call with this client's token and context.
    fn state(&self) -> CallState {
        CallState::new(
            self.shared.clone(),
            self.context_headers.clone(),
            CallAuth::Token(self.tokens.clone()),
        )
    }

    fn call(&self) -> compliance::direct::Client {
        crate::hooks::compliance_direct(self.state())
    }

    /// A call whose request carries `secrets` besides the credentials.
    fn call_sending(&self, secrets: Vec<secrecy::SecretString>) -> compliance::direct::Client {
        let mut state = self.state();
        state.extra_secrets = secrets;
        crate::hooks::compliance_direct(state)
    }

    /// Obtains the access token now (it is otherwise fetched by the first call that needs it).
    ///
    /// # Errors
    /// [`Error::Auth`] when the grant is refused (400/401/403 from the token endpoint);
    /// [`Error::Api`] for any other status (a 429 with [`Error::retry_after`]);
    /// [`Error::Timeout`] / [`Error::Transport`] when the token endpoint cannot be reached.
    pub async fn authenticate(&self) -> Result<()> {
        self.tokens.token().await.map(|_| ())
    }

    /// The rate limit fields of the last answer that carried any (IETF `RateLimit`, or the
    /// `X-RateLimit-*` fields), shared by the clones of this client: how many requests the
    /// server will still take, and when its quota renews. `None` while no answer had them
    /// (Preventor's page documents none; some gateways add them).
    pub fn rate_limit_status(&self) -> Option<crate::RateLimitStatus> {
        self.shared.rate_limit_status()
    }

    /// The generated client, with this client's auth, headers, retries and tracing, for calls
    /// the methods here do not cover. Its errors are progenitor's, not [`Error`].
    pub fn generated(&self) -> compliance::Client {
        crate::hooks::compliance_client(self.state())
    }

    /// `accountOnboarding`: create (A), update (U) or delete (D) an account. Never retried
    /// once sent.
    ///
    /// ```no_run
    /// # async fn run(client: preventor::ComplianceClient) -> preventor::Result<()> {
    /// use preventor::compliance::types::{Account, RequestType};
    /// let account: Account = Account::builder()
    ///     .request_type(RequestType::A)
    ///     .id("acc-0001")
    ///     .account_number("0011-0234-0100012345")
    ///     .account_currency(Some("PEN".into()))
    ///     .try_into()?;
    /// client.account_onboarding(account).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`Error::InvalidInput`]: a value refused before sending.
    /// * [`Error::Auth`]: credentials or token refused (after one replay with a new token).
    /// * [`Error::Api`]: any other error status, with the server's code and message
    ///   ([`Error::code`], [`Error::message`]); a 429 or 503 carries [`Error::retry_after`].
    /// * [`Error::Timeout`] / [`Error::Transport`]: no answer. For a write this may mean it was
    ///   processed ([`Error::is_ambiguous`]); it is never sent again automatically.
    /// * A 400 whose message says the account exists: [`Error::is_already_exists`]; an unknown
    ///   account on U/D: a 404 ([`Error::is_not_found`]).
    pub async fn account_onboarding(
        &self,
        account: types::Account,
    ) -> Result<types::Acknowledgement> {
        let client = self.call();
        let result = client.account_onboarding(&account).await;
        client.inner().finish("accountOnboarding", result)
    }

    /// `customerOnboarding`: create a customer. Never retried once sent.
    ///
    /// ```no_run
    /// # async fn run(client: preventor::ComplianceClient) -> preventor::Result<()> {
    /// use preventor::compliance::types::{Customer, RequestType};
    /// let customer: Customer = Customer::builder()
    ///     .request_type(RequestType::A)
    ///     .id("cu-0001")
    ///     .first_name(Some("JOHN".into()))
    ///     .last_name(Some("BROWN".into()))
    ///     .try_into()?;
    /// client.customer_onboarding(customer).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`Error::InvalidInput`]: a value refused before sending.
    /// * [`Error::Auth`]: credentials or token refused (after one replay with a new token).
    /// * [`Error::Api`]: any other error status, with the server's code and message
    ///   ([`Error::code`], [`Error::message`]); a 429 or 503 carries [`Error::retry_after`].
    /// * [`Error::Timeout`] / [`Error::Transport`]: no answer. For a write this may mean it was
    ///   processed ([`Error::is_ambiguous`]); it is never sent again automatically.
    /// * An existing id: a 400 whose message says so ([`Error::is_already_exists`]).
    pub async fn customer_onboarding(
        &self,
        customer: types::Customer,
    ) -> Result<types::Acknowledgement> {
        let client = self.call_sending(document_numbers(&customer));
        let result = client.customer_onboarding(&customer).await;
        client.inner().finish("customerOnboarding", result)
    }

    /// `customerMaintenance`: update (U) or delete (D) a customer (a partial record: only the
    /// fields sent change). Never retried once sent.
    ///
    /// ```no_run
    /// # async fn run(client: preventor::ComplianceClient) -> preventor::Result<()> {
    /// use preventor::compliance::types::{Customer, RequestType};
    /// let update: Customer = Customer::builder()
    ///     .request_type(RequestType::U)
    ///     .id("cu-0001")
    ///     .first_name(Some("JONATHAN".into()))
    ///     .try_into()?;
    /// client.customer_maintenance(update).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`Error::InvalidInput`]: a value refused before sending.
    /// * [`Error::Auth`]: credentials or token refused (after one replay with a new token).
    /// * [`Error::Api`]: any other error status, with the server's code and message
    ///   ([`Error::code`], [`Error::message`]); a 429 or 503 carries [`Error::retry_after`].
    /// * [`Error::Timeout`] / [`Error::Transport`]: no answer. For a write this may mean it was
    ///   processed ([`Error::is_ambiguous`]); it is never sent again automatically.
    /// * An unknown customer: a 404 ([`Error::is_not_found`]).
    pub async fn customer_maintenance(
        &self,
        customer: types::Customer,
    ) -> Result<types::Acknowledgement> {
        let client = self.call_sending(document_numbers(&customer));
        let result = client.customer_maintenance(&customer).await;
        client.inner().finish("customerMaintenance", result)
    }

    /// `registerMonetaryTransaction`: post a transaction to an account. Amounts are exact
    /// decimal strings end to end. Never retried once sent.
    ///
    /// ```no_run
    /// # async fn run(client: preventor::ComplianceClient) -> preventor::Result<()> {
    /// use preventor::compliance::types::MonetaryTransaction;
    /// let transaction: MonetaryTransaction = MonetaryTransaction::builder()
    ///     .id("tx-0001")
    ///     .account_number("0011-0234-0100012345")
    ///     .trans_amount("1250.75")
    ///     .trans_currency("PEN")
    ///     .try_into()?;
    /// client.register_monetary_transaction(transaction).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`Error::InvalidInput`]: a value refused before sending.
    /// * [`Error::Auth`]: credentials or token refused (after one replay with a new token).
    /// * [`Error::Api`]: any other error status, with the server's code and message
    ///   ([`Error::code`], [`Error::message`]); a 429 or 503 carries [`Error::retry_after`].
    /// * [`Error::Timeout`] / [`Error::Transport`]: no answer. For a write this may mean it was
    ///   processed ([`Error::is_ambiguous`]); it is never sent again automatically.
    /// * A transaction on an unknown account: a 404 ([`Error::is_not_found`]).
    pub async fn register_monetary_transaction(
        &self,
        transaction: types::MonetaryTransaction,
    ) -> Result<types::Acknowledgement> {
        let client = self.call();
        let result = client.register_monetary_transaction(&transaction).await;
        client.inner().finish("registerMonetaryTransaction", result)
    }

    /// `getCustomer`: the customer `cif_cod`, sent as the `cifCod` part of a
    /// `multipart/form-data` body as the page's curl does (written by hand: progenitor cannot
    /// generate multipart bodies).
    ///
    /// ```no_run
    /// # async fn run(client: preventor::ComplianceClient) -> preventor::Result<()> {
    /// let customer = client.get_customer("cu-0001").await?;
    /// println!("{:?}", customer.last_name); // PersonalText: Debug shows the length only
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`Error::InvalidInput`]: an empty `cif_cod`, before sending.
    /// * [`Error::Auth`]: credentials or token refused (after one replay with a new token).
    /// * [`Error::Api`]: a 404 for an unknown customer ([`Error::is_not_found`]); any other error
    ///   status with the server's code and message. A read: 429/5xx are retried first.
    /// * [`Error::Timeout`] / [`Error::Transport`]: no answer after the retries.
    /// * [`Error::InvalidResponse`]: the answer is not a customer (values not shown).
    pub async fn get_customer(&self, cif_cod: &str) -> Result<types::Customer> {
        let form = types::GetCustomerForm {
            cif_cod: types::GetCustomerFormCifCod::try_from(cif_cod)
                .map_err(|e| Error::invalid_input("getCustomer.cifCod", e.to_string()))?,
        };
        let client = self.call();
        let result = get_customer(&client, form).await;
        client.inner().finish("getCustomer", result)
    }
}

/// The document numbers a customer record carries, to keep out of server text we show.
fn document_numbers(customer: &types::Customer) -> Vec<secrecy::SecretString> {
    customer
        .iddocuments
        .iter()
        .filter_map(|d| d.doc_number.as_ref())
        .map(|n| n.expose().into())
        .collect()
}

/// The hand-written `getCustomer` call, through the same hooks as the generated ones.
async fn get_customer(
    client: &compliance::direct::Client,
    form: types::GetCustomerForm,
) -> std::result::Result<ResponseValue<types::Customer>, progenitor_client::Error<types::ErrorBody>>
{
    use http_body_util::BodyExt;
    use progenitor_client::Error as G;
    let multipart = reqwest::multipart::Form::new().text("cifCod", String::from(form.cif_cod));
    let shared = &client.inner().shared;
    let mut request = shared
        .http
        .post(format!("{}/onboarding/getCustomer", shared.base_url))
        .multipart(multipart)
        .build()?;
    // Buffer the (small) form so that the request can be retried or replayed after a 401: one
    // buffer of the form's length. Its `content-length` goes: hyper writes it from the body.
    if let Some(mut body) = request.body_mut().take() {
        let length = request
            .headers_mut()
            .remove(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let mut buffer = Vec::with_capacity(length);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(G::CommunicationError)?.into_data() {
                buffer.extend_from_slice(&data);
            }
        }
        *request.body_mut() = Some(buffer.into());
    }
    let info = OperationInfo {
        operation_id: "get_customer",
    };
    client.pre(&mut request, &info).await?;
    let result = client.exec(request, &info).await;
    client.post(&result, &info).await?;
    let response = result?;
    match response.status().as_u16() {
        200 => ResponseValue::from_response(response).await,
        400 | 401 | 403 | 404 | 405 | 406 | 429 | 500 | 503 => Err(G::ErrorResponse(
            ResponseValue::from_response(response).await?,
        )),
        _ => Err(G::UnexpectedResponse(response)),
    }
}
