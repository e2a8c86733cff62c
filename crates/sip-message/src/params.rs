//! Parameter lists (`;name=value`) of header values and URIs.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use smallvec::SmallVec;

use crate::lex::RawParam;

/// One parameter: a name and an optional value, as written (a quoted value
/// keeps its quotes; use [`Param::unquoted`] for the text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    name: ByteString,
    value: Option<ByteString>,
}

impl Param {
    /// A parameter with an optional value. The caller is responsible for the
    /// value being a token, host or quoted string where it goes on the wire.
    pub fn new(name: impl Into<ByteString>, value: Option<impl Into<ByteString>>) -> Self {
        Param {
            name: name.into(),
            value: value.map(Into::into),
        }
    }
    /// The name as written.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The value as written, quotes included.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
    /// The value without quotes and quoted-pair escapes.
    pub fn unquoted(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.value.as_deref().map(crate::lex::unquote)
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(v) = &self.value {
            f.write_str("=")?;
            f.write_str(v)?;
        }
        Ok(())
    }
}

/// An ordered list of parameters. Names compare case-insensitively
/// (RFC 3261 §7.3.1, §19.1.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params(SmallVec<[Param; 2]>);

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Params(SmallVec::new())
    }

    pub(crate) fn from_raw(src: &Bytes, raw: &[RawParam<'_>]) -> Option<Params> {
        let mut out = SmallVec::with_capacity(raw.len());
        for (n, v) in raw {
            out.push(Param {
                name: crate::lex::text(src, n)?,
                value: match v {
                    Some(v) => Some(crate::lex::text(src, v)?),
                    None => None,
                },
            });
        }
        Some(Params(out))
    }

    /// The first parameter with this name.
    pub fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }
    /// True if a parameter with this name is present (with or without value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// The value of a parameter, if present and valued.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Param::value)
    }
    /// Adds a parameter at the end.
    pub fn push(&mut self, p: Param) {
        self.0.push(p);
    }
    /// Sets a parameter, replacing any with the same name.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let p = Param::new(ByteString::from(name), value.map(ByteString::from));
        match self
            .0
            .iter_mut()
            .find(|q| q.name.eq_ignore_ascii_case(name))
        {
            Some(q) => *q = p,
            None => self.0.push(p),
        }
    }
    /// Removes every parameter with this name.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }
    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }
    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Params {
    /// Appends `;a=b;c`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        for p in &self.0 {
            out.push(b';');
            out.extend_from_slice(p.name.as_bytes());
            if let Some(v) = &p.value {
                out.push(b'=');
                out.extend_from_slice(v.as_bytes());
            }
        }
    }
}

impl fmt::Display for Params {
    /// Writes `;a=b;c` (each parameter with its leading semicolon).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            f.write_str(";")?;
            fmt::Display::fmt(p, f)?;
        }
        Ok(())
    }
}
