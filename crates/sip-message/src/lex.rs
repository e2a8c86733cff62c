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
/// and `"` (the URI grammar is checked when the URI is decoded). One
/// class, for [`run_in`].
const fn ruri_chars() -> [u8; 256] {
    let mut t = [0; 256];
    let mut c = 0x21;
    while c < 256 {
        t[c] = !matches!(c as u8, 0x7f | b'<' | b'>' | b'"') as u8;
        c += 1;
    }
    t
}

static RURI: [u8; 256] = ruri_chars();

/// True if every byte of `b` may stand in a Request-URI (see
/// [`ruri_chars`]).
#[inline]
pub(crate) fn all_request_uri(b: &[u8]) -> bool {
    run_in(b, &RURI, 1) == b.len()
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

const GEN_VALUE: u8 = 1; // token / ":" / "[" / "]": unquoted gen-value
const HOST: u8 = 2; // alphanum / "-" / "." / "_": a Via sent-by host name
const USER_CHAR: u8 = 4; // unreserved / user-unreserved: a URI user, no escapes
const PARAM_CHAR: u8 = 8; // unreserved / param-unreserved: a uri-parameter, no escapes

const fn classes2() -> [u8; 256] {
    let t1 = classes();
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut v = 0;
        if t1[c] & TOKEN != 0 || matches!(b, b':' | b'[' | b']') {
            v |= GEN_VALUE;
        }
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') {
            v |= HOST;
        }
        if t1[c] & (UNRESERVED | USER) != 0 {
            v |= USER_CHAR;
        }
        if t1[c] & (UNRESERVED | PARAM) != 0 {
            v |= PARAM_CHAR;
        }
        t[c] = v;
        c += 1;
    }
    t
}

static CLASS2: [u8; 256] = classes2();

#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}
#[cfg(test)]
pub(crate) fn is_word(b: u8) -> bool {
    CLASS[b as usize] & WORD != 0
}
/// Length of the run of bytes of `b` in `class` of `table`: eight table
/// reads joined with AND per step, one branch per step instead of per
/// byte. For runs that are often longer than a word (values, hosts).
#[inline(always)]
fn run_in(b: &[u8], table: &[u8; 256], class: u8) -> usize {
    let mut n = 0;
    for c in b.chunks_exact(8) {
        let c: &[u8; 8] = c.try_into().unwrap_or(&[0; 8]);
        if c.iter().fold(class, |m, x| m & table[*x as usize]) == 0 {
            break;
        }
        n += 8;
    }
    n + b[n..]
        .iter()
        .take_while(|x| table[**x as usize] & class != 0)
        .count()
}

/// Length of the run of word characters that `b` starts with.
#[inline]
pub(crate) fn word_run(b: &[u8]) -> usize {
    run_in(b, &CLASS, WORD)
}

/// Length of the run of host name or IPv4 address characters
/// (`alphanum / "-" / "." / "_"`) that `b` starts with.
#[inline]
pub(crate) fn host_run(b: &[u8]) -> usize {
    run_in(b, &CLASS2, HOST)
}

/// Length of the run of URI user characters other than escapes
/// (`unreserved / user-unreserved`) that `b` starts with.
#[inline]
pub(crate) fn user_run(b: &[u8]) -> usize {
    run_in(b, &CLASS2, USER_CHAR)
}

/// Length of the run of uri-parameter characters other than escapes
/// (`unreserved / param-unreserved`) that `b` starts with.
#[inline]
pub(crate) fn param_run(b: &[u8]) -> usize {
    run_in(b, &CLASS2, PARAM_CHAR)
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

// Word-at-a-time searches ("SWAR", safe code): eight bytes per step with
// the classic bit tricks. For `x.wrapping_sub(LO * n) & !x & HI` the
// lowest set bit is exact (it marks the first byte below `n`, `n <= 128`);
// higher bits may be false positives caused by the borrow, so only the
// lowest one is ever used. Header values are tens of bytes, where this
// beats setting up a SIMD search.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

#[inline(always)]
pub(crate) fn word_at(b: &[u8], at: usize) -> Option<u64> {
    let c = b.get(at..at + 8)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    Some(u64::from_le_bytes(w))
}

/// High bit set in the bytes of `w` equal to `c` (lowest one exact).
#[inline(always)]
pub(crate) fn eq_mask(w: u64, c: u8) -> u64 {
    let x = w ^ (LO * u64::from(c));
    x.wrapping_sub(LO) & !x & HI
}

/// High bit set in the bytes of `w` below `n` (lowest one exact, `n <= 128`).
#[inline(always)]
pub(crate) fn lt_mask(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * u64::from(n)) & !w & HI
}

/// Byte index of the lowest marked byte of a non-zero mask.
#[inline(always)]
pub(crate) fn first_marked(m: u64) -> usize {
    (m.trailing_zeros() / 8) as usize
}

/// The first `:` of a URI, which ends its scheme: a few bytes in, so a
/// plain byte search (a vector search would cost more to set up).
#[inline]
pub(crate) fn scheme_colon(uri: &[u8]) -> Option<usize> {
    uri.iter().position(|c| *c == b':')
}

/// Position of the first byte of `b` for which `stop` holds. `mark` is a
/// word test that flags every such byte (and maybe others, which `stop`
/// then rejects): eight bytes per step where nothing is flagged.
#[inline(always)]
pub(crate) fn find_by(
    b: &[u8],
    mark: impl Fn(u64) -> u64,
    stop: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut at = 0;
    loop {
        let mut chunks = b.get(at..)?.chunks_exact(8);
        let mut flagged = None;
        for c in chunks.by_ref() {
            let m = mark(u64::from_le_bytes(c.try_into().ok()?));
            if m != 0 {
                flagged = Some(at + first_marked(m));
                break;
            }
            at += 8;
        }
        let Some(p) = flagged else {
            let p = chunks.remainder().iter().position(|c| stop(*c))?;
            return Some(at + p);
        };
        if stop(b[p]) {
            return Some(p);
        }
        at = p + 1;
    }
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
#[inline(always)]
pub(crate) fn gen_value(i: &[u8]) -> PResult<'_, &[u8]> {
    if i.first() == Some(&b'"') {
        return quoted_string(i);
    }
    let n = run_in(i, &CLASS2, GEN_VALUE);
    if n == 0 {
        return fail(i, ErrorKind::TakeWhile1);
    }
    Ok((&i[n..], &i[..n]))
}

/// One raw parameter: name and optional value, as slices.
pub(crate) type RawParam<'a> = (&'a [u8], Option<&'a [u8]>);

/// `*( SEMI generic-param )`: parameters after a header value, each
/// handed to `f` as it is read (no collection is built).
///
/// Stops at the first byte that cannot continue the list, such as a comma
/// between values, and returns the rest; the caller decides what may
/// follow. `None` if a parameter is malformed.
#[inline(always)]
pub(crate) fn scan_params<'a>(
    i: &'a [u8],
    mut f: impl FnMut(&'a [u8], Option<&'a [u8]>),
) -> Option<&'a [u8]> {
    let ws = |mut p: usize| {
        while i.get(p).is_some_and(|b| is_ws(*b)) {
            p += 1;
        }
        p
    };
    // Everything before `done` has been read.
    let mut done = 0;
    loop {
        let semi = ws(done);
        if i.get(semi) != Some(&b';') {
            return Some(&i[done..]);
        }
        let start = ws(semi + 1);
        let mut end = start;
        while i.get(end).is_some_and(|b| is_token(*b)) {
            end += 1;
        }
        if end == start {
            return None;
        }
        let name = &i[start..end];
        let eq = ws(end);
        if i.get(eq) == Some(&b'=') {
            let (rest, v) = gen_value(&i[ws(eq + 1)..]).ok()?;
            f(name, Some(v));
            done = i.len() - rest.len();
        } else {
            f(name, None);
            done = end;
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

/// Reads `1*DIGIT` at the start of `i`: the value (`None` on u64
/// overflow or no digit) and the number of digits.
#[inline]
fn leading_digits(i: &[u8]) -> (Option<u64>, usize) {
    let digit = |c: &u8| u64::from(c.wrapping_sub(b'0'));
    let mut v = 0u64;
    let mut n = 0;
    while let Some(c) = i.get(n).filter(|c| c.is_ascii_digit()) {
        v = v.wrapping_mul(10).wrapping_add(digit(c));
        n += 1;
    }
    // Nineteen digits always fit a u64; past that, check for overflow.
    let v = match n {
        0 => None,
        1..=19 => Some(v),
        _ => i[..n]
            .iter()
            .try_fold(0u64, |v, c| v.checked_mul(10)?.checked_add(digit(c))),
    };
    (v, n)
}

/// Parses `1*DIGIT` into a number that must fit the target type.
#[inline]
pub(crate) fn digits<T: TryFrom<u64>>(i: &[u8]) -> PResult<'_, T> {
    match leading_digits(i) {
        (_, 0) => fail(i, ErrorKind::TakeWhile1),
        (Some(v), n) => match T::try_from(v) {
            Ok(v) => Ok((&i[n..], v)),
            Err(_) => fail(i, ErrorKind::TooLarge),
        },
        (None, _) => fail(i, ErrorKind::TooLarge),
    }
}

/// Parses a whole trimmed value as `1*DIGIT` of the target type.
#[inline]
pub(crate) fn number<T: TryFrom<u64>>(v: &[u8]) -> Option<T> {
    // Short values (Content-Length, Max-Forwards, CSeq...) in one plain
    // loop: at most four digits, nothing around them.
    if (1..=4).contains(&v.len()) {
        let mut n = 0u64;
        for d in v {
            if !d.is_ascii_digit() {
                return number_slow(v);
            }
            n = n * 10 + u64::from(d - b'0');
        }
        return T::try_from(n).ok();
    }
    number_slow(v)
}

/// [`number`] in general.
#[inline(never)]
fn number_slow<T: TryFrom<u64>>(v: &[u8]) -> Option<T> {
    // Values come trimmed from the parser: trim only if they may not be.
    let v = match (v.first(), v.last()) {
        (Some(a), Some(z)) if a.is_ascii_digit() && z.is_ascii_digit() => v,
        _ => trim(v),
    };
    match leading_digits(v) {
        (Some(n), len) if len == v.len() => T::try_from(n).ok(),
        _ => None,
    }
}

/// Case-insensitive ASCII comparison.
#[inline]
pub(crate) fn eq_ic(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Makes a [`bytestring::ByteString`] view of `part`, which must lie inside `src`.
/// `None` if `part` is not UTF-8. The check is `ByteString`'s own (an ASCII
/// test word by word, the full UTF-8 check only for other text), made once.
pub(crate) fn text(src: &bytes::Bytes, part: &[u8]) -> Option<bytestring::ByteString> {
    let b = if part.is_empty() {
        bytes::Bytes::new()
    } else {
        src.slice_ref(part)
    };
    bytestring::ByteString::try_from(b).ok()
}

/// The bytes `r` of `text`, shared; `None` if `r` is out of range or not
/// on character boundaries.
pub(crate) fn sub_text(
    text: &bytestring::ByteString,
    r: std::ops::Range<usize>,
) -> Option<bytestring::ByteString> {
    text.get(r).map(|s| text.slice_ref(s))
}

/// Every buffer of up to `max` bytes of `a` with two of `special` put at
/// every pair of places (one place twice included), handed to `check`: for
/// testing the word-at-a-time scans against byte-by-byte ones.
#[cfg(test)]
pub(crate) fn with_two_specials(max: usize, special: &[u8], mut check: impl FnMut(&[u8])) {
    let mut data = vec![b'a'; max];
    for len in 0..=max {
        for i in 0..len {
            for j in i..len {
                for &x in special {
                    for &y in special {
                        data.fill(b'a');
                        data[i] = x;
                        data[j] = y;
                        check(&data[..len]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_runs_are_the_byte_classes() {
        let all: Vec<u8> = (0..=255).collect();
        for b in all {
            for len in [1, 7, 8, 9, 17] {
                let mut v = vec![b'a'; len];
                v[len - 1] = b;
                let user = is_unreserved(b) || is_user_unreserved(b);
                let param = is_unreserved(b) || is_param_unreserved(b);
                assert_eq!(user_run(&v), len - usize::from(!user), "{b}");
                assert_eq!(param_run(&v), len - usize::from(!param), "{b}");
            }
        }
    }

    #[test]
    fn text_accepts_exactly_utf8() {
        // "ab", "é" in two octets, "c", two octets that are not UTF-8, "z".
        let src = bytes::Bytes::from(vec![b'a', b'b', 0xc3, 0xa9, b'c', 0xff, 0x80, b'z']);
        for (a, b) in [
            (0, 0),
            (0, 2),
            (0, 3),
            (2, 4),
            (3, 5),
            (0, 5),
            (5, 7),
            (6, 8),
            (7, 8),
        ] {
            let part = &src[a..b];
            assert_eq!(
                text(&src, part).as_deref(),
                std::str::from_utf8(part).ok(),
                "{a}..{b}"
            );
        }
    }

    #[test]
    fn short_numbers_agree_with_the_general_steps() {
        let mut cases: Vec<Vec<u8>> = [
            "",
            "0",
            "7",
            "70",
            "255",
            "256",
            "311",
            "0000",
            "9999",
            "65535",
            "65536",
            "00255",
            " 1",
            "1 ",
            " 1 ",
            "1\t",
            "-1",
            "+1",
            "1a",
            "a1",
            "12 3",
            "\r\n 1",
            "\u{e9}",
            "4294967295",
            "4294967296",
            "99999999999999999999",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        // Every one- to four-byte value over digits and a few others.
        let alphabet = b"09/: a\x80";
        for len in 1..=4 {
            for i in 0..alphabet.len().pow(len as u32) {
                let mut k = i;
                cases.push(
                    (0..len)
                        .map(|_| {
                            let c = alphabet[k % alphabet.len()];
                            k /= alphabet.len();
                            c
                        })
                        .collect(),
                );
            }
        }
        for v in &cases {
            assert_eq!(number::<u8>(v), number_slow::<u8>(v), "{v:?}");
            assert_eq!(number::<u16>(v), number_slow::<u16>(v), "{v:?}");
            assert_eq!(number::<u32>(v), number_slow::<u32>(v), "{v:?}");
        }
    }

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
    fn find_by_agrees_with_a_naive_search() {
        // The search of a name-addr's closing '>' with white space before it.
        let stop = |c: u8| c == b'>' || is_ws(c);
        let mark = |w: u64| eq_mask(w, b'>') | lt_mask(w, b' ' + 1);
        let special = [
            b'>', b' ', b'\t', b'\r', b'\n', 0x0b, 0x00, 0x21, 0xbe, 0xa0,
        ];
        with_two_specials(20, &special, |b| {
            let naive = b.iter().position(|c| stop(*c));
            assert_eq!(find_by(b, mark, stop), naive, "{b:?}");
        });
    }

    #[test]
    fn class_runs_agree_with_byte_tests() {
        let naive = |b: &[u8], class: u8| {
            b.iter()
                .take_while(|c| CLASS2[**c as usize] & class != 0)
                .count()
        };
        let mut data = [b'a'; 20];
        for len in 0..=20 {
            for i in 0..len {
                for x in 0..=255u8 {
                    data.fill(b'a');
                    data[i] = x;
                    let b = &data[..len];
                    assert_eq!(host_run(b), naive(b, HOST), "{b:?}");
                    let gen = gen_value(b).map_or(0, |(_, v)| v.len());
                    let expect = if x == b'"' && i == 0 {
                        gen
                    } else {
                        naive(b, GEN_VALUE)
                    };
                    assert_eq!(gen, expect, "{b:?}");
                }
            }
        }
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
        // Nineteen digits and fewer skip the overflow checks; more use them.
        assert_eq!(
            number::<u64>(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(number::<u64>(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(number::<u64>(b"18446744073709551616"), None);
        assert_eq!(number::<u64>(b"99999999999999999999"), None);
        assert_eq!(number::<u64>(b"000000000000000000000042"), Some(42));
    }
}
