//! The gateway's public-path check: never panics, and a path it lets through unauthenticated
//! is still under a public prefix after the normalisation an upstream server may apply
//! (repeated percent-decoding, `\` as `/`, `;` path parameters dropped, dot segments resolved,
//! as Tomcat, Jetty, Spring and IIS do).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate_server::gateway::is_public;

const PUBLIC: [&str; 3] = ["/public/", "/health", "/static/files/"];

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |byte: u8| char::from(byte).to_digit(16);
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2]))
        {
            out.push((high * 16 + low) as u8);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path an upstream server may end up serving for `path`.
fn upstream_view(path: &str) -> String {
    let mut decoded = path.to_owned();
    for _ in 0..3 {
        let next = percent_decode(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
    }
    let decoded = decoded.replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = decoded.split('/').collect();
    let last = parts.len().saturating_sub(1);
    for (index, part) in parts.into_iter().enumerate() {
        let segment = part.split(';').next().unwrap_or("");
        match segment {
            "." => {}
            ".." => {
                if segments.len() > 1 {
                    segments.pop();
                }
            }
            other => segments.push(other),
        }
        // A trailing dot segment leaves the directory it names, with its slash.
        if index == last && (segment == "." || segment == "..") {
            segments.push("");
        }
    }
    segments.join("/")
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let prefixes: Vec<String> = PUBLIC.iter().map(|prefix| (*prefix).to_owned()).collect();
    assert!(!is_public(&[], path), "no public paths, nothing public");
    if is_public(&prefixes, path) {
        assert!(PUBLIC.iter().any(|prefix| path.starts_with(prefix)));
        let seen = upstream_view(path);
        assert!(
            PUBLIC.iter().any(|prefix| seen.starts_with(prefix)),
            "{path:?} is public but an upstream may serve {seen:?}"
        );
    }
});
