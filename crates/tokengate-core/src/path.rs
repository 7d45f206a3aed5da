//! Which request paths `public_paths` may match. A path is only ever public when it is
//! already in normal form: no dot segments, no path parameters, no backslashes, no encoded
//! delimiters, no double encoding. Servers behind tokengate (Tomcat, Jetty, Spring, IIS, …)
//! each normalise differently; a path they could resolve to somewhere else is never public,
//! it goes through authentication instead. Pure functions, no allocation.

/// Whether `path` is in normal form: starts with `/`, holds only unreserved characters,
/// sub-delimiters other than `;`, `:`, `@` and `/`, and percent-escapes of printable ASCII that
/// could not change how the path splits or decodes (never `%2e` `.`, `%2f` `/`, `%5c` `\`,
/// `%25` `%`, `%3b` `;`, controls, NUL or bytes above 0x7f such as overlong UTF-8); no segment
/// is empty (except a trailing slash) and no segment is made of dots and spaces only (Windows
/// and some matchers trim spaces: `..%20` may become `..`).
pub fn is_normalised(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let segments = rest.split('/');
    let mut segments = segments.peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return false;
        }
        if !segment_is_normalised(segment.as_bytes()) {
            return false;
        }
    }
    true
}

fn segment_is_normalised(segment: &[u8]) -> bool {
    let mut index = 0;
    let mut dots = false;
    let mut only_dots_and_spaces = true;
    while index < segment.len() {
        let byte = segment[index];
        let decoded = if byte == b'%' {
            let Some(decoded) = hex_pair(segment.get(index + 1..index + 3)) else {
                return false;
            };
            if !harmless_escape(decoded) {
                return false;
            }
            index += 3;
            decoded
        } else if plain_character(byte) {
            index += 1;
            byte
        } else {
            return false;
        };
        dots |= decoded == b'.';
        only_dots_and_spaces &= matches!(decoded, b'.' | b' ');
    }
    !(dots && only_dots_and_spaces)
}

/// Characters a normal-form segment may hold as they are (RFC 3986 `pchar` without `;`
/// and `%`, which are handled apart).
fn plain_character(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// An escaped byte that decodes to something no server treats as structure: printable ASCII
/// other than `.`, `/`, `\`, `%` and `;` (space, `"`, `#`, `?`, `<`, `>`, `[`, `]`, …). An
/// escaped unreserved character is not normal form either (it should not be escaped).
fn harmless_escape(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte)
        && !plain_character(byte)
        && !matches!(byte, b'.' | b'/' | b'\\' | b'%' | b';')
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let high = hex_digit(*pair.first()?)?;
    let low = hex_digit(*pair.get(1)?)?;
    Some(high << 4 | low)
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Whether `path` (without its query) is public: in normal form and under one of
/// `public_paths` (non-empty prefixes, compared byte for byte).
pub fn is_public(public_paths: &[String], path: &str) -> bool {
    !public_paths.is_empty()
        && public_paths
            .iter()
            .any(|prefix| !prefix.is_empty() && path.starts_with(prefix.as_str()))
        && is_normalised(path)
}

#[cfg(test)]
mod tests;
