//! Signing in with an OpenID Connect provider (SPEC §10): the authorization code flow with PKCE
//! (S256), `state` and `nonce`, and an ID token verified against the issuer's keys found by
//! discovery (signature, issuer, audience and `azp`, expiry). [`Oidc::begin`] makes the
//! provider URL to send the browser to and the [`PendingLogin`] to keep until it comes back;
//! [`Oidc::finish`] turns the code it brings into an [`OidcUser`].

mod claims;
mod provider;

use crate::config::oidc::OidcConfig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use claims::{ClaimNames, Claims};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreIdTokenVerifier,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse,
};
use provider::{HttpFailure, Provider, ProviderCache};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use tokengate_core::Secret;
use tokengate_core::secret::constant_time_eq;

/// A sign-in started by [`Oidc::begin`] is refused by [`Oidc::finish`] after this many seconds.
pub const PENDING_MAX_AGE_SECONDS: i64 = 10 * 60;
/// Where a sign-in returns to when it was given no usable path.
const DEFAULT_RETURN: &str = "/tokengate/";
/// Codes and states longer than this are not a provider's.
const MAX_PARAMETER_LENGTH: usize = 4096;

/// The OpenID Connect client of one `[oidc]` section.
pub struct Oidc {
    client_id: ClientId,
    client_secret: Secret,
    redirect_uri: RedirectUrl,
    scopes: Vec<String>,
    names: ClaimNames,
    provider: ProviderCache,
}

/// Where to send the browser, and what to keep until it comes back.
#[derive(Debug)]
pub struct Login {
    /// The provider's authorization URL.
    pub url: String,
    pub pending: PendingLogin,
}

/// A sign-in under way: its `state`, `nonce`, PKCE verifier and the path to return to. Keep it
/// server-side or in a short-lived signed `HttpOnly` cookie; `Debug` shows none of the values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    /// Unix seconds.
    started_at: i64,
}

/// The user the provider vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub admin: bool,
}

/// The tokens the provider gave for a code (see [`Oidc::redeem`]). `Debug` redacts both.
pub struct Tokens {
    /// The ID token as sent (a signed JWT), not yet verified.
    pub id_token: String,
    access_token: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be used now (down, slow, or answering nonsense): show a page saying
    /// so, never a 500.
    #[error("the sign-in provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// This sign-in is refused: state, nonce, signature, issuer, audience, expiry or the user
    /// name claim did not check out, or the provider refused the code.
    #[error("sign-in refused: {0}")]
    Refused(String),
}

impl Oidc {
    /// The client for `config`, whose redirect URI is `{public_url}/tokengate/oidc/callback`.
    /// Nothing is fetched yet: discovery happens on first use.
    pub fn new(config: &OidcConfig, public_url: &str) -> Result<Self, String> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|_| "oidc.issuer: not a URL".to_owned())?;
        let redirect_uri = RedirectUrl::new(OidcConfig::redirect_uri(public_url))
            .map_err(|_| "public_url: not a URL".to_owned())?;
        let client_secret = config
            .client_secret
            .clone()
            .ok_or_else(|| "oidc.client_secret_file: no client secret".to_owned())?;
        let ca_file = crate::tls::ca_file(&config.ca_file);
        Ok(Self {
            client_id: ClientId::new(config.client_id.clone()),
            client_secret,
            redirect_uri,
            scopes: config.scopes.clone(),
            names: ClaimNames {
                username: config.username_claim.clone(),
                groups: config.groups_claim.clone(),
                admin_group: config.admin_group.clone(),
            },
            provider: ProviderCache::new(issuer, ca_file)?,
        })
    }

    /// Starts a sign-in that ends at `return_to` (a path on this host; anything else becomes
    /// `/tokengate/`).
    pub async fn begin(&self, return_to: &str) -> Result<Login, OidcError> {
        let provider = self.provider.get().await?;
        let client = self.client(&provider);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.scopes.iter().filter(|scope| *scope != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Login {
            url: url.to_string(),
            pending: PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                return_to: local_path(return_to),
                started_at: now(),
            },
        })
    }

    /// Ends the sign-in `pending` with the `code` and `state` the provider sent the browser
    /// back with: [`Oidc::redeem`], then [`Oidc::identify`].
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<OidcUser, OidcError> {
        let tokens = self.redeem(pending, code, state).await?;
        self.identify(pending, &tokens).await
    }

    /// Checks `state` (constant time) and the sign-in's age, then trades `code` and the PKCE
    /// verifier for the provider's tokens. The ID token is not checked yet.
    pub async fn redeem(
        &self,
        pending: &PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<Tokens, OidcError> {
        if state.len() > MAX_PARAMETER_LENGTH
            || !constant_time_eq(state.as_bytes(), pending.state.as_bytes())
        {
            return Err(OidcError::Refused(
                "the answer does not belong to this sign-in (state differs)".into(),
            ));
        }
        let age = now() - pending.started_at;
        if !(0..=PENDING_MAX_AGE_SECONDS).contains(&age) {
            return Err(OidcError::Refused(
                "the sign-in took too long; start again".into(),
            ));
        }
        if code.is_empty() || code.len() > MAX_PARAMETER_LENGTH {
            return Err(OidcError::Refused(
                "the provider sent no usable code".into(),
            ));
        }
        let provider = self.provider.get().await?;
        let client = self.client(&provider);
        let http = self.provider.client();
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| {
                OidcError::ProviderUnavailable("the provider names no token endpoint".into())
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(token_failure)?;
        let id_token = answer.extra_fields().id_token().ok_or_else(|| {
            OidcError::Refused("the provider sent no ID token (is \"openid\" a scope?)".into())
        })?;
        Ok(Tokens {
            id_token: id_token.to_string(),
            access_token: Secret::new(answer.access_token().secret().as_str()),
        })
    }

    /// Verifies the ID token of `tokens` for `pending` (signature with the issuer's keys,
    /// issuer, audience, `azp`, expiry, nonce) and builds the user from its claims, asking the
    /// userinfo endpoint for claims the ID token lacks.
    pub async fn identify(
        &self,
        pending: &PendingLogin,
        tokens: &Tokens,
    ) -> Result<OidcUser, OidcError> {
        let token = CoreIdToken::from_str(&tokens.id_token)
            .map_err(|_| OidcError::Refused("the ID token is malformed".into()))?;
        let provider = self.provider.get().await?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verified = match self.verify(&provider, &token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => match self.provider.refresh_keys(&provider).await? {
                Some(refreshed) => self.verify(&refreshed, &token, &nonce),
                None => self.verify(&provider, &token, &nonce),
            },
            first => first,
        };
        verified.map_err(refusal)?;
        let mut claims = payload(&tokens.id_token)?;
        check_authorized_party(&claims, &self.client_id)?;
        if claims::needs_userinfo(&claims, &self.names) {
            self.add_userinfo(&provider, tokens, &mut claims).await?;
        }
        claims::user_from(&claims, &self.names)
    }

    fn verify(
        &self,
        provider: &Provider,
        token: &CoreIdToken,
        nonce: &Nonce,
    ) -> Result<(), ClaimsVerificationError> {
        let verifier = CoreIdTokenVerifier::new_public_client(
            self.client_id.clone(),
            provider.metadata.issuer().clone(),
            provider.metadata.jwks().clone(),
        )
        .set_allowed_algs(ASYMMETRIC_ALGORITHMS);
        token.claims(&verifier, nonce).map(|_| ())
    }

    /// Claims from the userinfo endpoint (when the provider has one) for those the ID token
    /// lacks. A userinfo answer that is not a JSON object (a signed one, or an error) adds
    /// nothing.
    async fn add_userinfo(
        &self,
        provider: &Provider,
        tokens: &Tokens,
        claims: &mut Claims,
    ) -> Result<(), OidcError> {
        let Some(endpoint) = provider.metadata.userinfo_endpoint() else {
            return Ok(());
        };
        let (status, body) = self
            .provider
            .get_with_bearer(endpoint.as_str(), tokens.access_token.expose())
            .await
            .map_err(|failure| OidcError::ProviderUnavailable(format!("userinfo: {failure}")))?;
        if status.is_server_error() {
            return Err(OidcError::ProviderUnavailable(format!(
                "userinfo: the provider answered {status}"
            )));
        }
        match serde_json::from_slice::<Claims>(&body) {
            Ok(userinfo) if status.is_success() => claims::merge_userinfo(claims, userinfo),
            _ => Ok(()),
        }
    }

    fn client(
        &self,
        provider: &Provider,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            provider.metadata.clone(),
            self.client_id.clone(),
            Some(ClientSecret::new(self.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(self.redirect_uri.clone())
    }
}

/// Signatures with the provider's public keys only: never `none`, never a MAC keyed with the
/// client secret.
const ASYMMETRIC_ALGORITHMS: [CoreJwsSigningAlgorithm; 10] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EcdsaP521Sha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

impl PendingLogin {
    /// The `state` sent to the provider: a key to keep this sign-in under.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The path on this host to go to once signed in.
    pub fn return_to(&self) -> &str {
        &self.return_to
    }
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PendingLogin")
            .field("state", &tokengate_core::secret::Redacted)
            .field("nonce", &tokengate_core::secret::Redacted)
            .field("verifier", &tokengate_core::secret::Redacted)
            .field("return_to", &self.return_to)
            .field("started_at", &self.started_at)
            .finish()
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tokens")
            .field("id_token", &tokengate_core::secret::Redacted)
            .field("access_token", &self.access_token)
            .finish()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `path` when it is a path on this host (`/…`, not `//…` or `/\…`, no control characters),
/// else `/tokengate/`.
fn local_path(path: &str) -> String {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 2048
        && !path.chars().any(|c| c.is_control() || c == '\\');
    if local { path } else { DEFAULT_RETURN }.to_owned()
}

/// The claims of a JWT whose signature was checked: its middle part as a JSON object.
fn payload(token: &str) -> Result<Claims, OidcError> {
    let malformed = || OidcError::Refused("the ID token is malformed".into());
    let middle = token.split('.').nth(1).ok_or_else(malformed)?;
    let bytes = URL_SAFE_NO_PAD.decode(middle).map_err(|_| malformed())?;
    serde_json::from_slice(&bytes).map_err(|_| malformed())
}

/// An `azp` claim, when there is one, must name this client.
fn check_authorized_party(claims: &Claims, client_id: &ClientId) -> Result<(), OidcError> {
    match claims.get("azp") {
        None => Ok(()),
        Some(serde_json::Value::String(azp)) if azp == client_id.as_str() => Ok(()),
        Some(_) => Err(OidcError::Refused(
            "the ID token was issued to another client (azp)".into(),
        )),
    }
}

/// Why an ID token is refused, in words for the log.
fn refusal(error: ClaimsVerificationError) -> OidcError {
    let reason = match error {
        ClaimsVerificationError::SignatureVerification(problem) => {
            format!("the ID token's signature does not check out ({problem})")
        }
        ClaimsVerificationError::InvalidAudience(_) => {
            "the ID token is for another client (audience)".into()
        }
        ClaimsVerificationError::InvalidIssuer(_) => "the ID token is from another issuer".into(),
        ClaimsVerificationError::InvalidNonce(_) => {
            "the ID token belongs to another sign-in (nonce)".into()
        }
        ClaimsVerificationError::Expired(_) => "the ID token has expired".into(),
        other => format!("the ID token is invalid ({other})"),
    };
    OidcError::Refused(reason)
}

type TokenError = RequestTokenError<HttpFailure, StandardErrorResponse<CoreErrorResponseType>>;

/// A provider that refuses the code refuses the sign-in; one that cannot be reached or answers
/// nonsense is unavailable.
fn token_failure(error: TokenError) -> OidcError {
    match error {
        RequestTokenError::ServerResponse(refusal) => OidcError::Refused(format!(
            "the provider refused the code ({})",
            refusal.error().as_ref()
        )),
        RequestTokenError::Request(failure) => {
            OidcError::ProviderUnavailable(format!("token: {failure}"))
        }
        RequestTokenError::Parse(_, _) => OidcError::ProviderUnavailable(
            "token: the provider's answer is not a token response".into(),
        ),
        RequestTokenError::Other(problem) => {
            OidcError::ProviderUnavailable(format!("token: {problem}"))
        }
    }
}

#[cfg(test)]
mod tests;
