use super::*;
use proptest::prelude::*;

fn public() -> Vec<String> {
    vec!["/public/".to_owned(), "/health".to_owned()]
}

#[test]
fn normal_paths_under_a_prefix_are_public() {
    for path in [
        "/public/logo.png",
        "/public/",
        "/public/a/b/c.txt",
        "/public/my%20file.pdf",
        "/public/q%3Fmark",
        "/public/v1.2.3/x_y-z~w",
        "/public/a:b@c!$&'()*+,=",
        "/public/.well-known/x",
        "/public/file.",
        "/health",
    ] {
        assert!(is_public(&public(), path), "{path}");
    }
}

#[test]
fn paths_outside_every_prefix_or_without_prefixes_are_not_public() {
    assert!(!is_public(&public(), "/private"));
    assert!(!is_public(&public(), "/PUBLIC/x"));
    assert!(!is_public(&[], "/public/x"));
    assert!(!is_public(&[String::new()], "/anything"));
}

#[test]
fn paths_another_server_could_resolve_elsewhere_are_never_public() {
    for path in [
        "/public/../private",
        "/public/./x",
        "/public/..",
        "/public/...",
        "/public/..;/private",
        "/public/..;jsessionid=1/private",
        "/public/.;/private",
        "/public;x/../private",
        "/public/x;y",
        "/public/%2e%2e/private",
        "/public/%2E%2E/private",
        "/public/.%2e/private",
        "/public/%2e/private",
        "/public/%252e%252e/private",
        "/public/%252E%252E%252Fprivate",
        "/public/..%2fprivate",
        "/public/..%2Fprivate",
        "/public/%2fprivate",
        "/public/..%5cprivate",
        "/public/..%5Cprivate",
        "/public/..%255cprivate",
        "/public/..\\private",
        "/public\\..\\private",
        "/public/%c0%ae%c0%ae/private",
        "/public/%C0%AE%C0%AE%C0%AFprivate",
        "/public/%e0%80%ae%e0%80%ae/private",
        "/public/%00/../private",
        "/public/x%00.png",
        "/public/..%00/private",
        "/public/..%20/private",
        "/public/%20../private",
        "/public/. ./private",
        "/public//../private",
        "/public//x",
        "/public/%25",
        "/public/%2",
        "/public/%zz",
        "/public/%09",
        "/public/%7e",
        "/public/caf\u{e9}",
        "public/x",
        "",
    ] {
        assert!(!is_public(&public(), path), "{path}");
        assert!(!is_normalised(path), "{path}");
    }
}

/// Decodes every `%XX` once (overlong UTF-8 for `.`, `/` and `\` included, as lenient
/// servers do).
fn decode_once(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        if input[index] == b'%'
            && let Some(byte) = hex_pair(input.get(index + 1..index + 3))
        {
            out.push(byte);
            index += 3;
        } else {
            out.push(input[index]);
            index += 1;
        }
    }
    let mut folded = Vec::with_capacity(out.len());
    let mut index = 0;
    while index < out.len() {
        match (out[index], out.get(index + 1)) {
            (0xc0, Some(0xae)) => folded.push(b'.'),
            (0xc0, Some(0xaf)) => folded.push(b'/'),
            (0xc1, Some(0x9c)) => folded.push(b'\\'),
            (byte, _) => {
                folded.push(byte);
                index += 1;
                continue;
            }
        }
        index += 2;
    }
    folded
}

/// Whether a lenient server could see a dot segment in `path` after decoding it `depth`
/// times, reading `\` as `/`, dropping `;` parameters and trimming spaces and NULs.
fn has_dot_segment(path: &str, depth: usize) -> bool {
    let mut bytes = path.as_bytes().to_vec();
    for _ in 0..depth {
        bytes = decode_once(&bytes);
    }
    bytes
        .split(|byte| *byte == b'/' || *byte == b'\\')
        .map(|segment| segment.split(|byte| *byte == b';').next().unwrap_or(&[]))
        .map(|segment| {
            let text = String::from_utf8_lossy(segment);
            text.trim_matches(|c: char| c == ' ' || c == '\0')
                .to_owned()
        })
        .any(|segment| !segment.is_empty() && segment.chars().all(|c| c == '.'))
}

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "b", ".", "..", "/", "%", "2e", "2E", "%2e", "%2E", "%252e", "%25", "2f", "%2f",
        "%5c", "5c", "\\", ";", "%3b", "%c0", "%ae", "%c0%ae", "%00", " ", "%20", "x", "~", "%7e",
        "%41", "=",
    ])
}

proptest! {
    #[test]
    fn no_public_path_holds_a_dot_segment_at_any_decoding_depth(
        pieces in prop::collection::vec(piece(), 0..12)
    ) {
        let path = format!("/public/{}", pieces.concat());
        if is_public(&public(), &path) {
            for depth in 0..=3 {
                prop_assert!(!has_dot_segment(&path, depth), "{} at depth {}", path, depth);
            }
        }
    }

    #[test]
    fn no_public_path_decodes_to_a_backslash_semicolon_or_nul(
        pieces in prop::collection::vec(piece(), 0..12)
    ) {
        let path = format!("/public/{}", pieces.concat());
        if is_normalised(&path) {
            let mut bytes = path.as_bytes().to_vec();
            for _ in 0..3 {
                bytes = decode_once(&bytes);
                prop_assert!(!bytes.iter().any(|byte| matches!(byte, b'\\' | b';' | 0)), "{}", path);
            }
        }
    }

    #[test]
    fn the_check_never_panics_on_any_text(path in ".{0,64}") {
        let _ = is_normalised(&path);
        let _ = is_public(&public(), &path);
    }
}
