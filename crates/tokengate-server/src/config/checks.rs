//! The checks of single configuration values that need more than their type (URLs, schemes)
//! and the one-line form of a figment error. Pure: nothing is read or written.

/// A figment error as one line that starts with the key (or the environment variable) it is
/// about. Parse errors keep their first and last line (position and cause), not the quoted
/// source line, which may hold a secret.
pub(super) fn one_line(error: &figment::Error) -> String {
    let from_environment = error
        .metadata
        .as_ref()
        .is_some_and(|metadata| metadata.name.contains("environment"));
    let source = match &error.metadata {
        Some(metadata) => match &metadata.source {
            Some(source) => source.to_string(),
            None => metadata.name.to_string(),
        },
        None => "configuration".to_owned(),
    };
    let key = match (error.path.is_empty(), from_environment) {
        (true, _) => source,
        (false, true) => format!(
            "{} (TOKENGATE_{})",
            error.path.join("."),
            error.path.join("__").to_ascii_uppercase()
        ),
        (false, false) => format!("{} (in {source})", error.path.join(".")),
    };
    let text = error.kind.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let problem = match lines.as_slice() {
        [] => String::from("invalid"),
        [only] => (*only).to_owned(),
        [first, .., last] => format!("{first}: {last}"),
    };
    format!("{key}: {problem}")
}

/// At most 64 characters of a configured value, for messages.
pub(super) fn shorten(value: &str) -> String {
    let mut short: String = value.chars().take(64).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    short
}

pub(super) fn check_upstream(upstream: &str) -> Result<(), String> {
    let uri = upstream.parse::<http::Uri>().map_err(|_| {
        format!(
            "\"{}\" is not a URL like http://127.0.0.1:9000",
            shorten(upstream)
        )
    })?;
    match uri.scheme_str() {
        Some(scheme)
            if ["http", "https", "h2c"].contains(&scheme.to_ascii_lowercase().as_str()) => {}
        Some(scheme) => {
            return Err(format!(
                "unknown scheme \"{}\"; use http://, https:// or h2c://host:port",
                shorten(scheme)
            ));
        }
        None => {
            return Err(format!(
                "\"{}\" is not a URL like http://127.0.0.1:9000",
                shorten(upstream)
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("\"{}\" names no host", shorten(upstream)));
    }
    if uri.query().is_some() {
        return Err("a query string is not allowed in the upstream URL".into());
    }
    Ok(())
}

pub(super) fn check_public_url(public_url: &str) -> Result<(), String> {
    if public_url.is_empty() {
        return Ok(());
    }
    let uri = public_url.parse::<http::Uri>().map_err(|_| {
        format!(
            "\"{}\" is not a URL like https://tokens.example.com",
            shorten(public_url)
        )
    })?;
    let web_scheme = uri.scheme_str().is_some_and(|scheme| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    });
    if !web_scheme || uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "\"{}\" is not a URL like https://tokens.example.com",
            shorten(public_url)
        ));
    }
    Ok(())
}

/// `url` with the password of its user-info part (if any) replaced by `***`.
pub(super) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
}

/// Only the scheme is ever echoed: the rest of a database URL may hold a password.
pub(super) fn check_database_url(database_url: &str) -> Result<(), String> {
    let known = ["sqlite:", "postgres://", "postgresql://"];
    if known.iter().any(|prefix| {
        database_url
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    }) {
        return Ok(());
    }
    let scheme = database_url
        .split_once(':')
        .map_or("(none)", |(scheme, _)| scheme);
    Err(format!(
        "unknown scheme \"{}\"; use sqlite://PATH or postgres://…",
        shorten(scheme)
    ))
}
