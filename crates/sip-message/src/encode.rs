//! Small helpers for writing wire bytes without `fmt` (numbers go into
//! every message: CSeq, Content-Length, ports, status codes).

/// Appends the decimal form of `n`.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, n: u64) {
    // One digit (Content-Length 0 of most requests, small CSeq numbers):
    // a push, not a copy call of a variable length.
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let (buf, i) = decimal_digits(n);
    out.extend_from_slice(&buf[i..]);
}

/// The decimal digits of `n`: they are `buf[start..]` of the returned
/// `(buf, start)`. For writers into buffers other than a `Vec`.
#[inline]
pub fn decimal_digits(mut n: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (buf, i)
}

/// The dotted-decimal text of `a`: `buf[..len]` of the returned
/// `(buf, len)`, digit by digit, without `fmt` (a Via sent-by goes into
/// every request).
#[inline]
pub fn ipv4_digits(a: std::net::Ipv4Addr) -> ([u8; 15], usize) {
    let mut out = [0u8; 15];
    let mut n = 0;
    for (i, o) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            out[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            out[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        out[n] = b'0' + o % 10;
        n += 1;
    }
    (out, n)
}

/// Appends `n` in lower-case hexadecimal, at least `min_digits` digits
/// (zero-padded; up to 16): tags, Call-IDs, branches.
pub fn put_hex(out: &mut String, n: u64, min_digits: usize) {
    let digits = hex16(n);
    // Significant digits, at least `min_digits` (1 to 16).
    let len = (16 - n.leading_zeros() as usize / 4).max(min_digits.clamp(1, 16));
    // The digits are ASCII, so this never fails; one check of at most 16
    // bytes costs less than pushing them as chars one by one.
    out.push_str(std::str::from_utf8(&digits[16 - len..]).unwrap_or("0"));
}

/// The 16 lower-case hexadecimal digits of `n`, most significant first,
/// without a loop over digits or a division.
#[inline]
pub fn hex16(n: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = n.to_be_bytes();
    let mut out = [0u8; 16];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    out
}

/// Number of decimal digits of `n`.
#[inline]
pub(crate) fn decimal_len(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal() {
        for n in [0u64, 1, 7, 9, 10, 11, 99, 100, 4_294_967_295, u64::MAX] {
            let mut v = Vec::new();
            super::put_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
            assert_eq!(super::decimal_len(n), v.len());
        }
        for n in [
            0u64,
            9,
            10,
            15,
            16,
            255,
            256,
            0xdead_beef,
            1 << 63,
            u64::MAX,
        ] {
            let mut s = String::new();
            super::put_hex(&mut s, n, 1);
            assert_eq!(s, format!("{n:x}"));
            for min in [0, 1, 5, 8, 16, 40] {
                let mut s = String::from("x");
                super::put_hex(&mut s, n, min);
                let w = min.clamp(1, 16);
                assert_eq!(s, format!("x{n:0w$x}"), "{n} with at least {min} digits");
            }
        }
        // Every octet value in every position (the former put_u8 test).
        for n in 0..=u8::MAX {
            for a in [[n, 0, 9, 10], [255, n, 99, 100], [1, 22, n, 255]] {
                let ip = std::net::Ipv4Addr::from(a);
                let (buf, len) = super::ipv4_digits(ip);
                assert_eq!(&buf[..len], ip.to_string().as_bytes());
            }
        }
    }
}
