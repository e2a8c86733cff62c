//! Digest authentication for requests (RFC 3261 §22, RFC 7616, RFC 2617):
//! from a challenge (parsed by sip-message's `WwwAuthenticate` /
//! `ProxyAuthenticate`), the matching credentials value.

use md5::Md5;
use sha2::{Digest, Sha256};
use sip_message::headers::AuthValue;

/// A password for the credentials: plain, or the precomputed
/// `H(username:realm:password)` (HA1) that keeps the password off the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// The password itself.
    Password(String),
    /// `H(username:realm:password)` in lowercase hex, for one realm.
    Ha1(String),
}

/// Credentials for digest authentication: a user name and a secret for any
/// realm, or secrets per realm (NkSIP's `sip_pass` with `{Realm, Pass}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub(crate) user: Option<String>,
    /// (realm or None for any, secret), first match wins.
    pub(crate) secrets: Vec<(Option<String>, Secret)>,
}

impl Credentials {
    fn secret_for(&self, realm: &str) -> Option<&Secret> {
        self.secrets
            .iter()
            .find(|(r, _)| r.as_deref() == Some(realm))
            .or_else(|| self.secrets.iter().find(|(r, _)| r.is_none()))
            .map(|(_, s)| s)
    }
}

/// The digest algorithms (RFC 7616 §3.3 / §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Algorithm> {
        Some(match s.to_ascii_uppercase().as_str() {
            "MD5" => Algorithm::Md5,
            "MD5-SESS" => Algorithm::Md5Sess,
            "SHA-256" => Algorithm::Sha256,
            "SHA-256-SESS" => Algorithm::Sha256Sess,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }
    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => format!("{:x}", Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => {
                format!("{:x}", Sha256::digest(data.as_bytes()))
            }
        }
    }
    /// Hex digits of a hash (and so of an HA1) of this algorithm.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 32,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 64,
        }
    }
    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => 1,
            Algorithm::Sha256 | Algorithm::Sha256Sess => 2,
        }
    }
}

/// A `Digest` challenge with the fields the response needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// `qop` offered includes `auth`.
    pub qop_auth: bool,
    pub stale: bool,
}

/// The Digest challenge in a parsed `WWW-Authenticate`/`Proxy-Authenticate`
/// value (sip-message does the parsing); `None` for another scheme, an
/// unknown algorithm or a missing realm/nonce.
pub(crate) fn challenge(v: &AuthValue) -> Option<Challenge> {
    if !v.is_digest() {
        return None;
    }
    let algorithm = match v.algorithm() {
        Some(a) => Algorithm::parse(&a)?,
        None => Algorithm::Md5,
    };
    Some(Challenge {
        realm: v.realm()?.into_owned(),
        nonce: v.nonce()?.into_owned(),
        opaque: v.opaque().map(|o| o.into_owned()),
        algorithm,
        qop_auth: v.qop().iter().any(|q| q.eq_ignore_ascii_case("auth")),
        stale: v.stale(),
    })
}

/// The strongest challenge among several that `creds` can answer (RFC
/// 7616 §3.7: a client uses the first one it supports, servers list the
/// preferred first; we prefer SHA-256 over MD5 whatever the order). A
/// realm without a secret cannot be answered, and a stored HA1 answers
/// only the algorithm it was computed with (32 hex digits: MD5, 64:
/// SHA-256): a server offering both gets the one the HA1 is for.
pub(crate) fn best<'a>(
    values: impl Iterator<Item = &'a AuthValue>,
    creds: &Credentials,
) -> Option<Challenge> {
    let mut best: Option<Challenge> = None;
    let answerable = |c: &Challenge| match creds.secret_for(&c.realm) {
        None => false,
        Some(Secret::Password(_)) => true,
        Some(Secret::Ha1(h)) => h.len() == c.algorithm.hex_len(),
    };
    for c in values.filter_map(challenge).filter(answerable) {
        if best
            .as_ref()
            .is_none_or(|b| c.algorithm.strength() > b.algorithm.strength())
        {
            best = Some(c);
        }
    }
    best
}

/// What the request being authorized contributes.
pub(crate) struct Attempt<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub cnonce: &'a str,
    /// Nonce count for this nonce, 1 on the first use (RFC 7616 §3.4).
    pub nc: u32,
}

/// The credentials for `challenge` (§22.4, RFC 7616 §3.4), or `None` when
/// there is no secret for its realm.
pub(crate) fn authorization(
    challenge: &Challenge,
    creds: &Credentials,
    default_user: &str,
    a: &Attempt<'_>,
) -> Option<AuthValue> {
    let user = creds.user.as_deref().unwrap_or(default_user);
    let alg = challenge.algorithm;
    let ha1 = match creds.secret_for(&challenge.realm)? {
        Secret::Password(p) => alg.hash(&format!("{user}:{}:{p}", challenge.realm)),
        Secret::Ha1(h) => h.to_ascii_lowercase(),
    };
    let ha1 = match alg {
        Algorithm::Md5Sess | Algorithm::Sha256Sess => {
            alg.hash(&format!("{ha1}:{}:{}", challenge.nonce, a.cnonce))
        }
        _ => ha1,
    };
    let ha2 = alg.hash(&format!("{}:{}", a.method, a.uri));
    let nc = format!("{:08x}", a.nc);
    let response = if challenge.qop_auth {
        alg.hash(&format!(
            "{ha1}:{}:{nc}:{}:auth:{ha2}",
            challenge.nonce, a.cnonce
        ))
    } else {
        alg.hash(&format!("{ha1}:{}:{ha2}", challenge.nonce))
    };
    let mut v = AuthValue::new("Digest")
        .with_quoted("username", user)
        .with_quoted("realm", &challenge.realm)
        .with_quoted("nonce", &challenge.nonce)
        .with_quoted("uri", a.uri)
        .with_quoted("response", &response)
        .with_token("algorithm", alg.name());
    if challenge.qop_auth {
        v = v
            .with_quoted("cnonce", a.cnonce)
            .with_token("qop", "auth")
            .with_token("nc", &nc);
    }
    if let Some(o) = &challenge.opaque {
        v = v.with_quoted("opaque", o);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_message::headers::{TypedHeader, WwwAuthenticate};

    /// A challenge as a 401 would carry it.
    fn parse_challenge(value: &str) -> Option<Challenge> {
        WwwAuthenticate::from_value(value)
            .ok()
            .and_then(|w| challenge(&w))
    }

    fn creds(p: &str) -> Credentials {
        Credentials {
            user: Some("Mufasa".into()),
            secrets: vec![(None, Secret::Password(p.into()))],
        }
    }

    fn field<'a>(v: &'a str, name: &str) -> &'a str {
        let start = v.find(&format!("{name}=")).unwrap() + name.len() + 1;
        let rest = v[start..].trim_start_matches('"');
        &rest[..rest.find(['"', ',']).unwrap_or(rest.len())]
    }

    /// RFC 2617 §3.5's worked example (MD5, qop=auth).
    #[test]
    fn rfc2617_3_5_example() {
        let c = parse_challenge(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let v = authorization(
            &c,
            &creds("Circle Of Life"),
            "x",
            &Attempt {
                method: "GET",
                uri: "/dir/index.html",
                cnonce: "0a4f113b",
                nc: 1,
            },
        )
        .unwrap()
        .to_string();
        assert_eq!(field(&v, "response"), "6629fae49393a05397450978507c4ef1");
        assert_eq!(field(&v, "opaque"), "5ccc069c403ebaf9f0171e9517f40e41");
        assert_eq!(field(&v, "nc"), "00000001");
    }

    /// RFC 7616 §3.9.1's example, MD5 and SHA-256.
    #[test]
    fn rfc7616_3_9_1_examples() {
        let mk = |alg: &str| {
            parse_challenge(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            ))
            .unwrap()
        };
        let a = Attempt {
            method: "GET",
            uri: "/dir/index.html",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nc: 1,
        };
        let md5 = authorization(&mk("MD5"), &creds("Circle of Life"), "x", &a)
            .unwrap()
            .to_string();
        assert_eq!(field(&md5, "response"), "8ca523f5e9506fed4657c9700eebdbec");
        let sha = authorization(&mk("SHA-256"), &creds("Circle of Life"), "x", &a)
            .unwrap()
            .to_string();
        assert_eq!(
            field(&sha, "response"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(sha.contains("algorithm=SHA-256"));
    }

    #[test]
    fn ha1_and_realm_specific_secrets_and_bad_challenges() {
        let c = parse_challenge("Digest realm=\"r1\", nonce=\"n\"").unwrap();
        assert!(!c.qop_auth);
        let a = Attempt {
            method: "REGISTER",
            uri: "sip:example.com",
            cnonce: "c",
            nc: 1,
        };
        let ha1 = format!("{:x}", Md5::digest(b"bob:r1:secret"));
        let by_ha1 = Credentials {
            user: Some("bob".into()),
            secrets: vec![(Some("r1".into()), Secret::Ha1(ha1))],
        };
        let by_pass = Credentials {
            user: Some("bob".into()),
            secrets: vec![
                (Some("other".into()), Secret::Password("wrong".into())),
                (Some("r1".into()), Secret::Password("secret".into())),
            ],
        };
        assert_eq!(
            authorization(&c, &by_ha1, "x", &a),
            authorization(&c, &by_pass, "x", &a)
        );
        let only_other = Credentials {
            user: None,
            secrets: vec![(Some("other".into()), Secret::Password("p".into()))],
        };
        assert_eq!(authorization(&c, &only_other, "x", &a), None);
        assert_eq!(parse_challenge("Basic realm=\"r\""), None);
        assert_eq!(parse_challenge("Digest realm=\"r\""), None);
        assert_eq!(parse_challenge("Digest realm=\"r, nonce=\"n"), None);
        assert_eq!(
            parse_challenge("Digest realm=r, nonce=n, algorithm=SHA-512-256"),
            None
        );
        let both = [
            "Digest realm=\"r\", nonce=\"1\"",
            "Digest realm=\"r\", nonce=\"2\", algorithm=SHA-256",
        ];
        let both: Vec<WwwAuthenticate> = both
            .iter()
            .map(|v| WwwAuthenticate::from_value(v).unwrap())
            .collect();
        let any = creds("p");
        assert_eq!(best(both.iter().map(|w| &w.0), &any).unwrap().nonce, "2");
        // A stored MD5 HA1 answers the MD5 challenge, a SHA-256 one the
        // SHA-256 challenge, whatever the server prefers.
        let ha1 = |h: &str| Credentials {
            user: Some("u".into()),
            secrets: vec![(None, Secret::Ha1(h.into()))],
        };
        let md5_ha1 = ha1(&"a".repeat(32));
        let sha_ha1 = ha1(&"b".repeat(64));
        assert_eq!(
            best(both.iter().map(|w| &w.0), &md5_ha1).unwrap().nonce,
            "1"
        );
        assert_eq!(
            best(both.iter().map(|w| &w.0), &sha_ha1).unwrap().nonce,
            "2"
        );
        // No secret for the realm: nothing to answer.
        let elsewhere = Credentials {
            user: None,
            secrets: vec![(Some("other".into()), Secret::Password("p".into()))],
        };
        assert_eq!(best(both.iter().map(|w| &w.0), &elsewhere), None);
    }
}
