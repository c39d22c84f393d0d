//! HTTP basic authentication with supervisord's password rule.
//!
//! supervisord (`http.encrypted_dictionary_authorizer`) compares the configured password
//! with what the client sent; a configured value starting with `{SHA}` is instead compared
//! with the lower-case hex SHA-1 of the sent password. The comparison is exact (upper-case
//! hex in the config never matches, in supervisord too). Unlike supervisord, corral compares
//! in constant time.

use std::hint::black_box;

/// Decodes an `Authorization` header value of the `Basic` scheme into (username,
/// password). The scheme is case-insensitive; the password is everything after the first
/// `:`. `None` if the scheme is different or the credentials are not base64 of UTF-8
/// `user:password`.
pub fn parse_basic_auth(header_value: &str) -> Option<(String, String)> {
    let value = header_value.trim();
    let (scheme, cookie) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = crate::b64::decode(cookie.trim().as_bytes()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Whether `header_value` (an `Authorization` header) carries `username` and a password
/// matching `password_spec` (plain, or `{SHA}` + 40 hex digits of the password's SHA-1).
pub fn check_credentials(header_value: &str, username: &str, password_spec: &str) -> bool {
    let Some((user, password)) = parse_basic_auth(header_value) else {
        return false;
    };
    password_matches(&password, password_spec)
        & constant_time_eq(user.as_bytes(), username.as_bytes())
}

/// supervisord's rule for one password against a configured spec, in constant time.
pub fn password_matches(password: &str, password_spec: &str) -> bool {
    match password_spec.strip_prefix("{SHA}") {
        Some(hex) => constant_time_eq(
            sha1_smol::Sha1::from(password)
                .digest()
                .to_string()
                .as_bytes(),
            hex.as_bytes(),
        ),
        None => constant_time_eq(password.as_bytes(), password_spec.as_bytes()),
    }
}

/// Compares `given` with `expected` without an early exit: the time taken depends only on
/// `expected.len()`, never on where (or whether) the inputs differ or on `given`'s length.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff: u8 = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        // Read a byte of `given` at every position, wrapping, so the loop does the same
        // work whatever `given`'s length; a length mismatch is already recorded above.
        let g = if given.is_empty() {
            0
        } else {
            given[i % given.len()]
        };
        diff |= black_box(g ^ e);
    }
    black_box(diff) == 0
}

/// The `WWW-Authenticate` value supervisord sends with a 401.
pub const WWW_AUTHENTICATE: &str = "Basic realm=\"default\"";

/// An `Authorization` header value for `username` and `password`.
pub fn basic_auth_header(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        crate::b64::encode(format!("{username}:{password}").as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        assert_eq!(
            parse_basic_auth("Basic dXNlcjpwYXNz"),
            Some(("user".into(), "pass".into()))
        );
        assert_eq!(
            parse_basic_auth("basic  dXNlcjpwYTpzcw=="),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(parse_basic_auth("Bearer dXNlcjpwYXNz"), None);
        assert_eq!(parse_basic_auth("Basic !!!"), None);
        assert_eq!(parse_basic_auth("Basic dXNlcg=="), None); // "user", no colon
        assert_eq!(parse_basic_auth("Basic"), None);
        // Unpadded, and wrapped, credentials are taken too; a partial padding is not.
        assert_eq!(
            parse_basic_auth("Basic dXNlcjpwYTpzcw"),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(
            parse_basic_auth("Basic dXNlcjpw\n YXNz"),
            Some(("user".into(), "pass".into()))
        );
        assert_eq!(parse_basic_auth("Basic dXNlcjpwYTpzcw="), None);
        assert_eq!(basic_auth_header("user", "pass"), "Basic dXNlcjpwYXNz");
    }

    #[test]
    fn plain_and_sha_passwords() {
        let h = basic_auth_header("user", "test");
        assert!(check_credentials(&h, "user", "test"));
        assert!(!check_credentials(&h, "user", "tes"));
        assert!(!check_credentials(&h, "user", "test2"));
        assert!(!check_credentials(&h, "usr", "test"));
        // {SHA} of "test", as in supervisord's docs.
        assert!(check_credentials(
            &h,
            "user",
            "{SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        ));
        assert!(!check_credentials(
            &h,
            "user",
            "{SHA}A94A8FE5CCB19BA61C4C0873D391E987982FBBD3"
        ));
        assert!(!check_credentials(
            &h,
            "user",
            "{SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd4"
        ));
        // A plain password that happens to be the hash does not match the hash's preimage.
        let h2 = basic_auth_header("user", "{SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd3");
        assert!(!check_credentials(
            &h2,
            "user",
            "{SHA}a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        ));
        assert!(check_credentials(&basic_auth_header("", ""), "", ""));
        // The SHA-1 is of the password's UTF-8 bytes, over one or several blocks
        // (expected values from Python's hashlib.sha1(password.encode()).hexdigest()).
        for (password, hex) in [
            ("thepassword", "82ab876d1387bfafe46cc1c8a2ef074eae50cb1d"),
            ("pässwörd", "f517ddf1d32a112ff1ad55c66d1b12cb38e7e8f7"),
            (&"x".repeat(100), "50e483690ec481f4af7f6fb524b2b99eb1716565"),
        ] {
            assert!(
                password_matches(password, &format!("{{SHA}}{hex}")),
                "{password}"
            );
        }
        assert!(!check_credentials("garbage", "user", "test"));
    }

    #[test]
    fn constant_time_eq_is_correct() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(!constant_time_eq(b"a", b""));
        // A prefix repeated to the expected length must not pass via the wrapping index.
        assert!(!constant_time_eq(b"a", b"aa"));
    }
}
