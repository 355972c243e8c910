//! [`BiometricsClient`] and [`BioSession`]: one token per biometrics process.

use std::sync::Arc;

use progenitor_client::ClientInfo;
use secrecy::SecretString;

use crate::{
    client::builder::{BiometricsCredentials, ClientBuilder},
    config::{env_var, env_var_or, Tenant, BIOMETRICS_URL},
    context::EndUserContext,
    generated::{biometrics, biometrics::types},
    photo::Photo,
    transport::{ApiShared, CallAuth, CallState, ContextHeaders},
    Result,
};

pub use types::{
    BioTokenRequestDocumentType as DocumentType, BioTokenRequestTransactionType as TransactionType,
};

/// Client of the biometrics API (`api.preventor.id`). Holds no token: each process
/// (onboarding or authentication) gets its own [`BioSession`] from [`Self::start_session`].
#[derive(Clone, Debug)]
pub struct BiometricsClient {
    shared: Arc<ApiShared>,
    api_secret: SecretString,
    context: EndUserContext,
}

/// Builder of a [`BiometricsClient`].
pub type BiometricsClientBuilder = ClientBuilder<BiometricsCredentials>;

impl BiometricsClient {
    /// A builder with the production URL and default options.
    pub fn builder() -> BiometricsClientBuilder {
        ClientBuilder::new(BIOMETRICS_URL)
    }

    pub(crate) fn new(
        shared: Arc<ApiShared>,
        api_secret: SecretString,
        context: EndUserContext,
    ) -> Self {
        BiometricsClient {
            shared,
            api_secret,
            context,
        }
    }

    /// A client configured from the variables of [`Tenant::from_env`], `PREVENTOR_API_SECRET`,
    /// and `PREVENTOR_BIOMETRICS_URL` (optional).
    pub fn from_env() -> Result<Self> {
        crate::config::require_env(&crate::config::BIOMETRICS_ENV)?;
        Self::builder()
            .base_url(env_var_or("PREVENTOR_BIOMETRICS_URL", BIOMETRICS_URL))
            .tenant(Tenant::from_env()?)
            .api_secret(env_var("PREVENTOR_API_SECRET")?)
            .build()
    }

    /// The generated client with this client's Basic credentials (the API key and secret):
    /// good for `bioToken` only, since every other call needs a process token
    /// ([`BioSession::generated`]). Its errors are progenitor's, not [`crate::Error`].
    pub fn generated(&self) -> biometrics::Client {
        let state = CallState::new(
            self.shared.clone(),
            self.shared.context_headers(&self.context),
            CallAuth::Basic {
                user: self.shared.tenant.api_key.clone(),
                secret: self.api_secret.clone(),
            },
        );
        crate::hooks::biometrics_client(state)
    }

    /// `bioToken`: starts one process and returns its session. Two sessions never share a token.
    ///
    /// ```no_run
    /// # async fn run(biometrics: preventor::BiometricsClient) -> preventor::Result<()> {
    /// use preventor::{DocumentType, TransactionType};
    /// let session = biometrics
    ///     .start_session(TransactionType::Onboarding, Some(DocumentType::IdCard))
    ///     .await?;
    /// let user = session.create_user().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`crate::Error::Auth`]: the API key or secret was refused.
    /// * [`crate::Error::Api`]: any other error status (a token call: 429/5xx are retried first).
    /// * [`crate::Error::Timeout`] / [`crate::Error::Transport`]: no answer after the retries.
    pub async fn start_session(
        &self,
        transaction: TransactionType,
        document: Option<DocumentType>,
    ) -> Result<BioSession> {
        self.start_session_with(transaction, document, &EndUserContext::default())
            .await
    }

    /// [`Self::start_session`] with an end-user context for this session.
    pub async fn start_session_with(
        &self,
        transaction: TransactionType,
        document: Option<DocumentType>,
        context: &EndUserContext,
    ) -> Result<BioSession> {
        context.validate()?;
        let context = self
            .shared
            .context_headers(&context.merged_over(&self.context));
        let state = CallState::new(
            self.shared.clone(),
            context.clone(),
            CallAuth::Basic {
                user: self.shared.tenant.api_key.clone(),
                secret: self.api_secret.clone(),
            },
        );
        let client = crate::hooks::biometrics_direct(state);
        let body = types::BioTokenRequest {
            transaction_type: transaction,
            document_type: document,
        };
        let result = client.bio_token(&body).await;
        let token = client.inner().finish("bioToken", result)?;
        Ok(BioSession {
            shared: self.shared.clone(),
            token: token.token.into(),
            context,
        })
    }
}

/// One biometrics process (one onboarding or authentication), carrying its own token through
/// create user, upload and enroll. A 401 here means the process token was refused or expired:
/// it is returned as [`crate::Error::Auth`] (a new token would be a new process), and never touches the
/// compliance token.
#[derive(Clone, Debug)]
pub struct BioSession {
    shared: Arc<ApiShared>,
    token: SecretString,
    context: Arc<ContextHeaders>,
}

/// The pictures of one upload: one or two portraits (selfies), the document's front and,
/// optionally, its back.
#[derive(Clone, Debug)]
pub struct BioPhotos {
    /// First portrait (required).
    pub portrait: Photo,
    /// Second portrait.
    pub second_portrait: Option<Photo>,
    /// Front of the document (required).
    pub document_front: Photo,
    /// Back of the document.
    pub document_back: Option<Photo>,
}

impl BioSession {
    /// The state of one call with this session's token.
    fn state(&self) -> CallState {
        CallState::new(
            self.shared.clone(),
            self.context.clone(),
            CallAuth::Bearer(self.token.clone()),
        )
    }

    fn call(&self) -> biometrics::direct::Client {
        crate::hooks::biometrics_direct(self.state())
    }

    /// The generated client carrying this session's token, with the SDK's headers, retries and
    /// tracing, for calls the methods here do not cover. Its errors are progenitor's, not
    /// [`crate::Error`].
    pub fn generated(&self) -> biometrics::Client {
        crate::hooks::biometrics_client(self.state())
    }

    /// `createBioUser`: a new bio user. Never retried once sent.
    ///
    /// ```no_run
    /// # async fn run(session: preventor::BioSession) -> preventor::Result<()> {
    /// let user = session.create_user().await?;
    /// println!("bio user {}", user.user_id);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`crate::Error::InvalidInput`]: a value refused before sending.
    /// * [`crate::Error::Auth`]: the process token was refused or expired (a 401 is not replayed:
    ///   a new token would be a new process; start a new session).
    /// * [`crate::Error::Api`]: any other error status, with the server's code and message.
    /// * [`crate::Error::Timeout`] / [`crate::Error::Transport`]: no answer; never sent again
    ///   automatically once it may have been processed.
    pub async fn create_user(&self) -> Result<types::BioUser> {
        let client = self.call();
        let result = client.create_bio_user().await;
        client.inner().finish("createBioUser", result)
    }

    /// `uploadBioFiles`: uploads the user's pictures and returns the ticket. Never retried once
    /// sent.
    ///
    /// ```no_run
    /// # async fn run(session: preventor::BioSession) -> preventor::Result<()> {
    /// use preventor::{BioPhotos, Photo};
    /// let photos = BioPhotos {
    ///     portrait: Photo::from_file("portrait.jpg")?,
    ///     second_portrait: None,
    ///     document_front: Photo::from_file("document-front.jpg")?,
    ///     document_back: None,
    /// };
    /// let ticket = session.upload("4fc897ce-7879-47e4-9e5c-5de91ded4dea", &photos).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`crate::Error::InvalidInput`]: a value refused before sending (a `user_id` that is not one path segment).
    /// * [`crate::Error::Auth`]: the process token was refused or expired (a 401 is not replayed:
    ///   a new token would be a new process; start a new session).
    /// * [`crate::Error::Api`]: any other error status, with the server's code and message.
    /// * [`crate::Error::Timeout`] / [`crate::Error::Transport`]: no answer; never sent again
    ///   automatically once it may have been processed.
    pub async fn upload(&self, user_id: &str, photos: &BioPhotos) -> Result<types::UploadTicket> {
        let set = |first: &Photo, second: &Option<Photo>| types::PictureSet {
            picture1: first.into(),
            picture2: second.as_ref().map(Into::into),
        };
        let body = types::BioUpload {
            portraits: set(&photos.portrait, &photos.second_portrait),
            documents: set(&photos.document_front, &photos.document_back),
        };
        self.upload_body(user_id, body).await
    }

    /// `uploadBioFiles` with a ready body, for callers that already hold JPEG data URIs (from a
    /// capture SDK, say). Never retried once sent.
    ///
    /// ```no_run
    /// # async fn run(session: preventor::BioSession) -> preventor::Result<()> {
    /// use preventor::{biometrics::types::{BioUpload, PictureSet}, redacted::PhotoDataUri};
    /// let uri = |s: &str| PhotoDataUri::try_from(s); // checked like Photo: JPEG, base64, 1 MB
    /// let body = BioUpload {
    ///     portraits: PictureSet { picture1: uri("data:image/jpeg;base64,/9j/4A==")?, picture2: None },
    ///     documents: PictureSet { picture1: uri("data:image/jpeg;base64,/9j/4A==")?, picture2: None },
    /// };
    /// let ticket = session.upload_body("4fc897ce-7879-47e4-9e5c-5de91ded4dea", body).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`crate::Error::InvalidInput`]: a value refused before sending (a `user_id` that is not one path segment).
    /// * [`crate::Error::Auth`]: the process token was refused or expired (a 401 is not replayed:
    ///   a new token would be a new process; start a new session).
    /// * [`crate::Error::Api`]: any other error status, with the server's code and message.
    /// * [`crate::Error::Timeout`] / [`crate::Error::Transport`]: no answer; never sent again
    ///   automatically once it may have been processed.
    pub async fn upload_body(
        &self,
        user_id: &str,
        body: types::BioUpload,
    ) -> Result<types::UploadTicket> {
        let user_id = path_parameter("uploadBioFiles.userId", user_id)?;
        let client = self.call();
        let result = client.upload_bio_files(&user_id, &body).await;
        client.inner().finish("uploadBioFiles", result)
    }

    /// `bioEnroll`: the enroll result of an upload ticket: photo match, liveness, enrollment
    /// and what the document reader read.
    ///
    /// ```no_run
    /// # async fn run(session: preventor::BioSession) -> preventor::Result<()> {
    /// let result = session.enroll("4fc897ce-7879-47e4-9e5c-5de91ded4dea", "bf47fb71-81ac").await?;
    /// println!("liveness {:?}, photo match {:?}", result.liveness, result.photo_verify);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// * [`crate::Error::InvalidInput`]: an id that is not one path segment, before sending.
    /// * [`crate::Error::Auth`]: the process token was refused or expired.
    /// * [`crate::Error::Api`]: any other error status (a read: 429/5xx are retried first).
    /// * [`crate::Error::Timeout`] / [`crate::Error::Transport`]: no answer after the retries.
    /// * [`crate::Error::InvalidResponse`]: the answer is not an enroll result (values not shown).
    pub async fn enroll(&self, user_id: &str, ticket: &str) -> Result<types::EnrollResult> {
        let user_id = path_parameter("bioEnroll.userId", user_id)?;
        let ticket = path_parameter("bioEnroll.ticket", ticket)?;
        let client = self.call();
        let result = client.bio_enroll(&user_id, &ticket).await;
        client.inner().finish("bioEnroll", result)
    }
}

/// A path parameter of the generated call: one path segment ([`path_segment`]) within the
/// document's bounds.
fn path_parameter<'a, T>(field: &str, id: &'a str) -> Result<T>
where
    T: TryFrom<&'a str>,
    T::Error: std::fmt::Display,
{
    T::try_from(path_segment(field, id)?)
        .map_err(|e| crate::Error::invalid_input(field, e.to_string()))
}

/// An id that goes into a URL path as one segment. `.` and `..` (which a URL parser or a server
/// resolves, climbing out of the documented path whatever the encoding) are refused, and so is
/// any character that could end the segment or the path (`/`, `\\`, `?`, `#`, `%`, controls
/// and whitespace). Ids Preventor issues are UUIDs, well inside this.
fn path_segment<'a>(field: &str, id: &'a str) -> Result<&'a str> {
    let problem = if id.is_empty() {
        "is empty"
    } else if id == "." || id == ".." {
        "is a relative path segment ('.' or '..')"
    } else if id
        .chars()
        .any(|c| matches!(c, '/' | '\\' | '?' | '#' | '%') || c.is_control() || c.is_whitespace())
    {
        "contains a character that would change the URL path ('/', '\\', '?', '#', '%', whitespace or a control)"
    } else {
        return Ok(id);
    };
    Err(crate::Error::invalid_input(field, problem))
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn ids_stay_one_path_segment() {
        for ok in [
            "4fc897ce-7879-47e4-9e5c-5de91ded4dea",
            "a.b",
            "...",
            "t_1~x",
        ] {
            assert_eq!(path_segment("id", ok).unwrap(), ok);
        }
        for bad in [
            "", ".", "..", "a/b", "..\\x", "a?b", "a#b", "%2e%2e", "a b", "a\nb",
        ] {
            assert!(path_segment("id", bad).is_err(), "{bad:?} accepted");
        }
    }
}
