//! The provider as tokengate knows it: its discovery document and signing keys, fetched on
//! first use and kept, fetched again after a failure (nothing failed is kept), after a day, and
//! (keys only) when a token names a key that is not known yet. All HTTP to the provider goes
//! through one client with short time limits, no redirects and ring-based TLS.

use super::OidcError;
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{DiscoveryError, HttpRequest, HttpResponse, IssuerUrl};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Every request to the provider gives up after this long, so a provider that is down turns
/// into a clear page within seconds.
pub(super) const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// A discovery document is fetched again after this long.
const METADATA_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Keys are fetched for an unknown key id at most this often, so tokens naming made-up key ids
/// cannot make tokengate hammer the provider.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Provider answers (discovery, keys, tokens, userinfo) are small; larger ones are refused.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What discovery found.
pub(super) struct Provider {
    pub metadata: CoreProviderMetadata,
    fetched: Instant,
}

/// The provider's metadata and keys, fetched lazily and kept.
pub(super) struct ProviderCache {
    issuer: IssuerUrl,
    http: reqwest::Client,
    current: RwLock<Option<Arc<Provider>>>,
    keys_refreshed: Mutex<Option<Instant>>,
}

/// A failed request to the provider (connection, time-out, oversized answer).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct HttpFailure(String);

impl ProviderCache {
    pub fn new(issuer: IssuerUrl, ca_file: Option<&str>) -> Result<Self, String> {
        let tls =
            crate::tls::client_config(ca_file).map_err(|problem| format!("oidc.{problem}"))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("tokengate")
            .build()
            .map_err(|error| format!("oidc: cannot build the HTTP client: {error}"))?;
        Ok(Self {
            issuer,
            http,
            current: RwLock::new(None),
            keys_refreshed: Mutex::new(None),
        })
    }

    /// The provider as last discovered, discovering it first when needed.
    pub async fn get(&self) -> Result<Arc<Provider>, OidcError> {
        if let Some(provider) = self.cached()
            && provider.fetched.elapsed() < METADATA_MAX_AGE
        {
            return Ok(provider);
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.client())
            .await
            .map_err(|error| discovery_failure("discovery", error))?;
        let provider = Arc::new(Provider {
            metadata,
            fetched: Instant::now(),
        });
        self.keep(provider.clone());
        Ok(provider)
    }

    /// Fetches the provider's keys again (a token named a key id that `stale` does not have),
    /// unless that was done in the last few seconds: then `None`.
    pub async fn refresh_keys(&self, stale: &Provider) -> Result<Option<Arc<Provider>>, OidcError> {
        {
            let mut refreshed = self
                .keys_refreshed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if refreshed.is_some_and(|at| at.elapsed() < KEY_REFRESH_INTERVAL) {
                return Ok(None);
            }
            *refreshed = Some(Instant::now());
        }
        let keys = CoreJsonWebKeySet::fetch_async(stale.metadata.jwks_uri(), &self.client())
            .await
            .map_err(|error| discovery_failure("keys", error))?;
        let provider = Arc::new(Provider {
            metadata: stale.metadata.clone().set_jwks(keys),
            fetched: stale.fetched,
        });
        self.keep(provider.clone());
        Ok(Some(provider))
    }

    /// The HTTP client in the form the OpenID Connect library calls.
    pub fn client(&self) -> ProviderHttp {
        ProviderHttp(self.http.clone())
    }

    /// A GET with a bearer token (userinfo), answered with its status and body.
    pub async fn get_with_bearer(
        &self,
        url: &str,
        bearer: &str,
    ) -> Result<(http::StatusCode, Vec<u8>), HttpFailure> {
        let request = http::Request::get(url)
            .header(http::header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| HttpFailure("invalid userinfo URL".into()))?;
        let answer = send(&self.http, request).await?;
        Ok((answer.status(), answer.into_body()))
    }

    fn cached(&self) -> Option<Arc<Provider>> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn keep(&self, provider: Arc<Provider>) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(provider);
    }
}

/// The provider's HTTP client for the OpenID Connect library: a type of its own (rather than a
/// closure) so that its futures are `Send` for every lifetime, as a web handler needs.
pub(super) struct ProviderHttp(reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp {
    type Error = HttpFailure;
    type Future = BoxedAnswer<'c>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

pub(super) type BoxedAnswer<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HttpResponse, HttpFailure>> + Send + 'a>,
>;

/// One request to the provider, its answer read whole (up to [`MAX_ANSWER_BYTES`]).
async fn send(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let request = reqwest::Request::try_from(request)
        .map_err(|error| HttpFailure(format!("invalid request: {error}")))?;
    let url = request.url().clone();
    let mut answer = http.execute(request).await.map_err(|error| {
        let what = if error.is_timeout() {
            "did not answer in time"
        } else if error.is_connect() {
            "cannot be reached"
        } else {
            "failed to answer"
        };
        HttpFailure(format!("{} {what}", without_query(&url)))
    })?;
    let mut response = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|_| HttpFailure(format!("{} broke off its answer", without_query(&url))))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(HttpFailure(format!(
                "{} answered too much",
                without_query(&url)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    response
        .body(body)
        .map_err(|error| HttpFailure(format!("invalid answer: {error}")))
}

fn without_query(url: &reqwest::Url) -> String {
    url.as_str()
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Discovery and key fetching fail as "unavailable": tokengate cannot use the provider now.
fn discovery_failure(what: &str, error: DiscoveryError<HttpFailure>) -> OidcError {
    let reason = match error {
        DiscoveryError::Request(failure) => failure.0,
        DiscoveryError::Response(status, _, _) => format!("the provider answered {status}"),
        DiscoveryError::Parse(_) => "the provider's answer is not a valid document".into(),
        DiscoveryError::Validation(problem) => problem,
        DiscoveryError::UrlParse(_) => "the issuer URL is invalid".into(),
        DiscoveryError::Other(problem) => problem,
        _ => "the provider's answer cannot be used".into(),
    };
    OidcError::ProviderUnavailable(format!("{what}: {reason}"))
}
