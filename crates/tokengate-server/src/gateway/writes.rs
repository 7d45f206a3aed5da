//! Requests that ask for more than their method says, for read-only tokens (SPEC §11 `access`):
//! a method-override header naming a method that writes (frameworks such as Rails, Laravel,
//! ASP.NET and Express's method-override act on `X-HTTP-Method-Override: DELETE` sent on a
//! `GET` or `POST`), or an upgrade to a WebSocket, a channel both ways. Only WebSockets are
//! ever upgraded through the gateway; any other `Upgrade` is dropped with the hop-by-hop
//! headers.

use axum::http::{HeaderMap, HeaderValue, header};

/// Whether the request asks the upstream to write beyond its method: an override naming
/// anything but GET, HEAD or OPTIONS (in any case, any count), or a WebSocket upgrade. One
/// pass over the header lines (usually a handful), no hashing: this runs on every request.
pub fn asks_to_write(headers: &HeaderMap) -> bool {
    let mut upgrade = false;
    for (name, value) in headers {
        match name.as_str() {
            // The method-override headers upstream frameworks honour.
            "x-http-method-override" | "x-http-method" | "x-method-override" => {
                let method = value.to_str().unwrap_or("").trim();
                let reads = ["GET", "HEAD", "OPTIONS"]
                    .iter()
                    .any(|read| method.eq_ignore_ascii_case(read));
                if !reads {
                    return true;
                }
            }
            "upgrade" => upgrade = true,
            _ => {}
        }
    }
    upgrade && websocket_asked(headers).is_some()
}

/// The `Upgrade` value when the request asks for a WebSocket (`Connection: upgrade` and
/// `Upgrade: websocket`); any other protocol is not upgraded.
pub fn websocket_asked(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let protocol = headers.get(header::UPGRADE)?;
    let websocket = protocol
        .to_str()
        .is_ok_and(|value| value.trim().eq_ignore_ascii_case("websocket"));
    (asks && websocket).then(|| protocol.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn an_override_naming_a_writing_method_writes_in_every_spelling() {
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-METHOD-OVERRIDE",
        ] {
            for value in [
                "DELETE",
                "delete",
                " PUT ",
                "PATCH",
                "POST",
                "PROPFIND",
                "",
                "GET, DELETE",
            ] {
                assert!(
                    asks_to_write(&headers(&[(name, value)])),
                    "{name}: {value:?}"
                );
            }
            for value in ["GET", "get", "HEAD", " OPTIONS "] {
                assert!(
                    !asks_to_write(&headers(&[(name, value)])),
                    "{name}: {value:?}"
                );
            }
        }
        // A second copy that writes is enough.
        let twice = headers(&[
            ("x-http-method-override", "GET"),
            ("x-http-method-override", "DELETE"),
        ]);
        assert!(asks_to_write(&twice));
        assert!(!asks_to_write(&headers(&[(
            "x-forwarded-method",
            "DELETE"
        )])));
    }

    #[test]
    fn only_a_websocket_is_an_upgrade() {
        let websocket = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        assert!(websocket_asked(&headers(&websocket)).is_some());
        assert!(asks_to_write(&headers(&websocket)));
        for protocol in ["h2c", "tcp", "websocket, h2c", "TLS/1.2"] {
            let other = headers(&[("connection", "upgrade"), ("upgrade", protocol)]);
            assert!(websocket_asked(&other).is_none(), "{protocol}");
            assert!(!asks_to_write(&other), "{protocol}");
        }
        assert!(websocket_asked(&headers(&[("upgrade", "websocket")])).is_none());
    }
}
