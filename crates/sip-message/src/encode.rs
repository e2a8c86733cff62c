//! Small helpers for writing wire bytes without `fmt` (numbers go into
//! every message: CSeq, Content-Length, ports, status codes).

/// Appends the decimal form of `n`.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, mut n: u64) {
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
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal form of an octet (IPv4 dotted quads), digit by
/// digit: no buffer, no copy call.
#[inline]
pub(crate) fn put_u8(out: &mut Vec<u8>, n: u8) {
    if n >= 100 {
        out.push(b'0' + n / 100);
    }
    if n >= 10 {
        out.push(b'0' + n / 10 % 10);
    }
    out.push(b'0' + n % 10);
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
        for n in [0u64, 7, 10, 99, 100, 4_294_967_295, u64::MAX] {
            let mut v = Vec::new();
            super::put_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
            assert_eq!(super::decimal_len(n), v.len());
        }
        for n in 0..=u8::MAX {
            let mut v = Vec::new();
            super::put_u8(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }
}
