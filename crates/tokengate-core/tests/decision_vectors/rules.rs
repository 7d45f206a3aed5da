//! Which numbered rule of SPEC §2 each shared vector checks, by case name.

/// Which numbered rule of SPEC §2 each vector checks.
pub const RULES: &[(&str, &[&str])] = &[
    (
        "1 client address",
        &[
            "allow-list: X-Forwarded-For from an untrusted peer is ignored",
            "allow-list: X-Forwarded-For from a trusted proxy names the client",
            "allow-list: the right-most untrusted address is the client",
            "allow-list: trusted proxies in the chain are skipped",
        ],
    ),
    (
        "2 ip allow-list",
        &[
            "allow-list: an address outside is refused even with a token",
            "allow-list: an address inside is allowed",
            "allow-list: the last address of a dash range is inside",
            "allow-list: one past a dash range is outside",
            "allow-list: IPv6 range",
            "allow-list: an IPv4-mapped IPv6 peer matches its IPv4 entry",
            "allow-list: applies to anonymous requests",
            "allow-list: applies to passwords",
        ],
    ),
    (
        "3 credentials",
        &[
            "no credentials are refused",
            "no credentials pass when anonymous is allowed",
            "basic with invalid base64 is malformed",
            "basic without a colon is malformed",
            "an unknown scheme is malformed",
        ],
    ),
    (
        "4 token",
        &[
            "basic with the owner's name and its token is allowed",
            "bearer token is allowed",
            "an expired token says so to its holder",
            "a disabled owner's token is refused",
            "admins-only: a non-admin's token is refused",
            "admins-only: an admin's token works",
            "passwords disabled: an unknown bearer token gets 401",
            "a token with a bad checksum is refused",
            "a token under a token user name is its owner's",
            "x-access-token as the user name works for any owner",
            "an unknown token under a token user name is refused",
            "an expired token under a token user name says so",
            "a token under another user's name is refused and not counted as a password failure",
            "a wrong token under a real name is refused without counting against the password",
            "a tg_ secret with a bad checksum under a real name is not a password",
            "passwords disabled: a bad-checksum token under a real name gets 403",
        ],
    ),
    (
        "5 password",
        &[
            "the right password is allowed while passwords are enabled",
            "passwords disabled: a right password gets 403",
            "passwords disabled: a token still works",
            "passwords disabled: a non-matching token gets 403",
            "admins-only: passwords are not affected",
            "a disabled user's password is refused",
        ],
    ),
    (
        "6 failed logins",
        &[
            "a wrong password is counted",
            "locked user: the right password is refused until the lock ends",
            "locked user: a token still works",
            "locked user: after the lock ends the password works and the counter restarts",
            "locked until reset: no Retry-After",
            "the fifth failure locks the password",
            "a token success does not reset the failure counter",
            "a password success resets the failure counter",
            "locked user: the right password from a known address is allowed and the lock stays",
            "locked user: a wrong password from a known address is checked and counted",
            "locked user: another user's known address does not help",
        ],
    ),
    (
        "7 unknown user",
        &[
            "an unknown user gets the same answer as a wrong password",
            "passwords disabled: an unknown user gets 403",
        ],
    ),
];
