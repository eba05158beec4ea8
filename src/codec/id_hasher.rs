//! A hasher for map keys that are hashes already.

use std::hash::Hasher;

/// Passes a `u64` key through unchanged: the decoders key their maps by
/// hashes they computed with a randomly keyed hasher, so hashing again is
/// waste.
/// Other writes fold bytes in, so the type stays a correct `Hasher`.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
