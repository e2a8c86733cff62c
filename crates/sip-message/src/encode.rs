//! Small helpers for writing wire bytes without `fmt`.

/// Appends the decimal form of `n`.
#[inline]
pub(crate) fn put_u64(out: &mut Vec<u8>, mut n: u64) {
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

#[cfg(test)]
mod tests {
    #[test]
    fn decimal() {
        for n in [0u64, 7, 10, 99, 100, 4_294_967_295, u64::MAX] {
            let mut v = Vec::new();
            super::put_u64(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }
}
