//! Lexical building blocks of RFC 3261 §25.1: character classes and the
//! small nom parsers every header grammar uses (SWS, HCOLON, SEMI, EQUAL,
//! token, quoted-string, generic-param).
//!
//! Header values given to these parsers come from the line splitter, which
//! guarantees that CR and LF only occur inside a value as part of a fold
//! (CRLF followed by SP or HT). Skipping SP/HT/CR/LF is therefore exactly
//! the `LWS`/`SWS` rule.

use nom::bytes::complete::take_while1;
use nom::error::{Error, ErrorKind};
use nom::IResult;

/// nom result over bytes with nom's small, allocation-free error.
pub(crate) type PResult<'a, O> = IResult<&'a [u8], O, Error<&'a [u8]>>;

const TOKEN: u8 = 1;
const WORD: u8 = 2;
const UNRESERVED: u8 = 4;
const USER: u8 = 8; // user-unreserved
const PASSWORD: u8 = 16;
const PARAM: u8 = 32; // param-unreserved
const HNV: u8 = 64; // hnv-unreserved
const HEX: u8 = 128;

/// Bytes that may stand in a Request-URI: anything visible but `<`, `>`
/// and `"` (the URI grammar is checked when the URI is decoded).
const fn ruri_chars() -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0x21;
    while c < 256 {
        t[c] = !matches!(c as u8, 0x7f | b'<' | b'>' | b'"');
        c += 1;
    }
    t
}

static RURI: [bool; 256] = ruri_chars();

/// See [`ruri_chars`].
#[inline]
pub(crate) fn is_request_uri_char(b: u8) -> bool {
    RURI[b as usize]
}

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        let mut v = 0;
        if alnum
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            v |= TOKEN | WORD;
        }
        if matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        ) {
            v |= WORD;
        }
        if alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            v |= UNRESERVED | PASSWORD;
        }
        if matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            v |= USER;
        }
        if matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
            v |= PASSWORD;
        }
        if matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            v |= PARAM;
        }
        if matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            v |= HNV;
        }
        if b.is_ascii_hexdigit() {
            v |= HEX;
        }
        t[c] = v;
        c += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}
#[inline]
pub(crate) fn is_word(b: u8) -> bool {
    CLASS[b as usize] & WORD != 0
}
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    CLASS[b as usize] & UNRESERVED != 0
}
#[inline]
pub(crate) fn is_user_unreserved(b: u8) -> bool {
    CLASS[b as usize] & USER != 0
}
#[inline]
pub(crate) fn is_password(b: u8) -> bool {
    CLASS[b as usize] & PASSWORD != 0
}
#[inline]
pub(crate) fn is_param_unreserved(b: u8) -> bool {
    CLASS[b as usize] & PARAM != 0
}
#[inline]
pub(crate) fn is_hnv_unreserved(b: u8) -> bool {
    CLASS[b as usize] & HNV != 0
}
#[inline]
pub(crate) fn is_hex(b: u8) -> bool {
    CLASS[b as usize] & HEX != 0
}
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// A nom error at `i`.
#[inline]
pub(crate) fn fail<O>(i: &[u8], kind: ErrorKind) -> PResult<'_, O> {
    Err(nom::Err::Error(Error::new(i, kind)))
}

/// Offset of `part` inside `whole` (both slices of the same buffer).
#[inline]
pub(crate) fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// Skips optional white space without going through nom.
#[inline]
pub(crate) fn skip_ws(i: &[u8]) -> &[u8] {
    let n = i.iter().position(|b| !is_ws(*b)).unwrap_or(i.len());
    &i[n..]
}

/// Trims white space (and folds) at both ends.
#[inline]
pub(crate) fn trim(i: &[u8]) -> &[u8] {
    let i = skip_ws(i);
    let end = i.iter().rposition(|b| !is_ws(*b)).map_or(0, |p| p + 1);
    &i[..end]
}

/// `token`.
#[inline]
pub(crate) fn token(i: &[u8]) -> PResult<'_, &[u8]> {
    take_while1(is_token)(i)
}

/// A separator surrounded by optional white space: `SEMI`, `COMMA`,
/// `EQUAL`, `SLASH`, `COLON` and friends (RFC 3261 §25.1).
#[inline]
pub(crate) fn sep(c: u8) -> impl Fn(&[u8]) -> PResult<'_, ()> {
    move |i: &[u8]| {
        let r = skip_ws(i);
        match r.first() {
            Some(b) if *b == c => Ok((skip_ws(&r[1..]), ())),
            _ => fail(i, ErrorKind::Char),
        }
    }
}

/// `quoted-string`, returned with its quotes. Quoted pairs may escape any
/// octet but CR and LF (RFC 3261 §25.1 `quoted-pair`); the content must be
/// UTF-8 where it is not ASCII, which the caller checks when it converts.
pub(crate) fn quoted_string(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() != Some(&b'"') {
        return fail(i, ErrorKind::Char);
    }
    let mut p = 1;
    while p < i.len() {
        match i[p] {
            b'"' => return Ok((&i[p + 1..], &i[..p + 1])),
            b'\\' => match i.get(p + 1) {
                Some(b'\r') | Some(b'\n') | None => return fail(&i[p..], ErrorKind::Escaped),
                _ => p += 2,
            },
            b'\r' | b'\n' => {
                // Only a fold may appear inside a quoted string (LWS).
                if i.get(p + 1)
                    .is_some_and(|b| matches!(b, b'\n' | b' ' | b'\t'))
                {
                    p += 1;
                } else {
                    return fail(&i[p..], ErrorKind::Char);
                }
            }
            _ => p += 1,
        }
    }
    fail(&i[i.len()..], ErrorKind::Eof)
}

/// Removes the quotes and quoted-pair escapes of a quoted string.
pub fn unquote(q: &str) -> std::borrow::Cow<'_, str> {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    if !inner.contains('\\') {
        return std::borrow::Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Puts a string in quotes, escaping `"` and `\` (RFC 3261 §25.1). CR and
/// LF cannot appear in a quoted string, even escaped (`quoted-pair`
/// excludes them): each becomes a space.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `gen-value` of a generic parameter: token, host (incl. IPv6 with or
/// without brackets, RFC 5118 §4.5) or quoted-string.
pub(crate) fn gen_value(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() == Some(&b'"') {
        return quoted_string(i);
    }
    take_while1(|b| is_token(b) || b == b':' || b == b'[' || b == b']')(i)
}

/// One raw parameter: name and optional value, as slices.
pub(crate) type RawParam<'a> = (&'a [u8], Option<&'a [u8]>);

/// `*( SEMI generic-param )`: parameters after a header value, each
/// handed to `f` as it is read (no collection is built).
///
/// Stops at the first byte that cannot continue the list, such as a comma
/// between values, and returns the rest; the caller decides what may
/// follow. `None` if a parameter is malformed.
#[inline]
pub(crate) fn scan_params<'a>(
    mut i: &'a [u8],
    mut f: impl FnMut(&'a [u8], Option<&'a [u8]>),
) -> Option<&'a [u8]> {
    loop {
        let r = skip_ws(i);
        if r.first() != Some(&b';') {
            return Some(i);
        }
        let r = skip_ws(&r[1..]);
        let n = r.iter().position(|b| !is_token(*b)).unwrap_or(r.len());
        if n == 0 {
            return None;
        }
        let (name, r) = r.split_at(n);
        let r2 = skip_ws(r);
        if r2.first() == Some(&b'=') {
            let (rest, v) = gen_value(skip_ws(&r2[1..])).ok()?;
            f(name, Some(v));
            i = rest;
        } else {
            f(name, None);
            i = r;
        }
    }
}

/// [`scan_params`] collecting into a list.
pub(crate) fn params<'a>(
    i: &'a [u8],
    out: &mut smallvec::SmallVec<[RawParam<'a>; 4]>,
) -> PResult<'a, ()> {
    match scan_params(i, |n, v| out.push((n, v))) {
        Some(rest) => Ok((rest, ())),
        None => fail(i, ErrorKind::Verify),
    }
}

/// Splits a header value into its comma-separated elements, leaving commas
/// inside quoted strings and `<...>` alone (RFC 3261 §7.3.1). Elements are
/// trimmed; an empty element is returned as an empty slice so that the
/// grammar check of the caller rejects it.
pub(crate) fn split_commas(v: &[u8]) -> CommaSplit<'_> {
    CommaSplit { rest: Some(v) }
}

pub(crate) struct CommaSplit<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let v = self.rest?;
        let mut in_quote = false;
        let mut in_angle = false;
        let mut p = 0;
        while p < v.len() {
            let b = v[p];
            if in_quote {
                match b {
                    b'\\' => p += 1,
                    b'"' => in_quote = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_quote = true,
                    b'<' => in_angle = true,
                    b'>' => in_angle = false,
                    b',' if !in_angle => {
                        self.rest = Some(&v[p + 1..]);
                        return Some(trim(&v[..p]));
                    }
                    _ => {}
                }
            }
            p += 1;
        }
        self.rest = None;
        Some(trim(v))
    }
}

/// Parses `1*DIGIT` into a number that must fit the target type.
pub(crate) fn digits<T: TryFrom<u64>>(i: &[u8]) -> PResult<'_, T> {
    let (rest, d) = take_while1(|b: u8| b.is_ascii_digit())(i)?;
    let mut v: u64 = 0;
    for &b in d.iter() {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
        {
            Some(v) => v,
            None => return fail(i, ErrorKind::TooLarge),
        };
    }
    match T::try_from(v) {
        Ok(v) => Ok((rest, v)),
        Err(_) => fail(i, ErrorKind::TooLarge),
    }
}

/// Parses a whole trimmed value as `1*DIGIT` of the target type.
pub(crate) fn number<T: TryFrom<u64>>(v: &[u8]) -> Option<T> {
    let v = trim(v);
    match digits::<T>(v) {
        Ok((b"", n)) => Some(n),
        _ => None,
    }
}

/// Case-insensitive ASCII comparison.
#[inline]
pub(crate) fn eq_ic(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Makes a [`bytestring::ByteString`] view of `part`, which must lie inside `src`.
pub(crate) fn text(src: &bytes::Bytes, part: &[u8]) -> Option<bytestring::ByteString> {
    std::str::from_utf8(part).ok()?;
    let b = if part.is_empty() {
        bytes::Bytes::new()
    } else {
        src.slice_ref(part)
    };
    bytestring::ByteString::try_from(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_25_1_token_and_word_classes() {
        for b in b"abcXYZ019-.!%*_+`'~" {
            assert!(is_token(*b), "{}", *b as char);
        }
        for b in b"()<>:\\\"/[]?{}" {
            assert!(!is_token(*b) && is_word(*b), "{}", *b as char);
        }
        assert!(!is_token(b',') && !is_word(b',') && !is_word(b' '));
    }

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let v = br#""Watson, Thomas" <sip:a@b;x=1,2>, <sip:c@d> ,e"#;
        let parts: Vec<&[u8]> = split_commas(v).collect();
        assert_eq!(
            parts,
            vec![
                &br#""Watson, Thomas" <sip:a@b;x=1,2>"#[..],
                &b"<sip:c@d>"[..],
                &b"e"[..]
            ]
        );
    }

    #[test]
    fn quoted_string_escapes() {
        let (rest, q) = quoted_string(br#""a\"b" x"#).unwrap();
        assert_eq!(q, br#""a\"b""#);
        assert_eq!(rest, b" x");
        assert!(quoted_string(br#""open"#).is_err());
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), r#"J Rosenberg \""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn digits_reject_overflow() {
        assert_eq!(number::<u32>(b" 0009 "), Some(9));
        assert_eq!(number::<u32>(b"4294967296"), None);
        assert_eq!(number::<u8>(b"256"), None);
        assert_eq!(number::<u32>(b"-1"), None);
    }
}
