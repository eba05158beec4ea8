//! Base64 (RFC 4648), the little of it pushgate needs: the URL-safe
//! alphabet of `@base64` grouping values, both ways (the gateway decodes
//! them, the pusher writes them), and the standard alphabet, padded, of
//! `Authorization: Basic`.

/// RFC 4648 §4, the standard alphabet.
#[cfg(feature = "client")]
const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// RFC 4648 §5, the URL- and filename-safe alphabet.
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `data` in the URL-safe alphabet without padding, as Go's
/// `base64.RawURLEncoding` writes it.
pub(crate) fn encode_url(data: &[u8]) -> String {
    encode(data, URL_SAFE, false)
}

/// `data` in the standard alphabet with `=` padding (Basic auth).
#[cfg(feature = "client")]
pub(crate) fn encode_standard(data: &[u8]) -> String {
    encode(data, STANDARD, true)
}

fn encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut b = [0u8; 3];
        b[..chunk.len()].copy_from_slice(chunk);
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        // A chunk of k bytes fills k + 1 sextets.
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// URL-safe base64 with optional `=` padding, as the Pushgateway reads it
/// (Go's `base64.RawURLEncoding` after trimming `=`s): `None` on a
/// character outside the alphabet or a length that leaves a lone sextet.
pub(crate) fn decode_url(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=').as_bytes();
    if s.len() % 4 == 1 {
        return None;
    }
    let sextet = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | sextet(c)?;
        }
        // Left-align the chunk's bits in 24 and take its whole bytes.
        acc <<= 6 * (4 - chunk.len() as u32);
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "push")]
    #[test]
    fn rfc_4648_test_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode_standard(plain.as_bytes()), encoded);
            assert_eq!(encode_url(plain.as_bytes()), encoded.trim_end_matches('='));
        }
    }

    #[cfg(feature = "push")]
    #[test]
    fn alphabets_differ_in_the_last_two() {
        assert_eq!(encode_standard(&[0xfb, 0xff]), "+/8=");
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn url_safe_round_trips_every_length() {
        let data: Vec<u8> = (0u8..=255).collect();
        for len in 0..data.len() {
            let input = &data[..len];
            let enc = encode_url(input);
            assert_eq!(decode_url(&enc).as_deref(), Some(input), "{enc}");
            // Padded, as Python's `urlsafe_b64encode` writes it.
            let padded = format!("{enc}{}", "=".repeat((4 - enc.len() % 4) % 4));
            assert_eq!(decode_url(&padded).as_deref(), Some(input), "{padded}");
        }
    }

    #[test]
    fn decode_refuses_other_characters_and_lone_sextets() {
        for s in ["a", "a$", "YQ.", "Y Q", "YQ+A", "YQ/A", "abcde"] {
            assert_eq!(decode_url(s), None, "{s}");
        }
    }
}
