//! [`Str`]: an immutable UTF-8 string that shares memory with the request body.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::num::NonZeroUsize;
use std::ops::{Deref, Range};

use bytes::Bytes;

// See `Str::INLINE_CAPACITY`: the size of a `Bytes`, which it shares with.
const INLINE: usize = 32;

// `Str::tag` of a shared string; inline ones have `len + 1`.
const SHARED: NonZeroUsize = NonZeroUsize::MAX;

/// An immutable, cheaply cloneable UTF-8 string.
///
/// A `Str` of up to [`Str::INLINE_CAPACITY`] bytes holds them in place; a
/// longer one is a [`Bytes`] slice. Decoders take strings out of the request
/// body with [`Str::from_utf8_slice`]: short ones are copied into the `Str`
/// (no allocation, no reference count), long ones share the body's memory
/// (no copy). Either way no `String` is allocated per label, and a stored
/// metric does not keep a whole request body alive for one short label.
///
/// ```
/// use bytes::Bytes;
/// use pushgate::model::Str;
///
/// let s = Str::from("http_requests_total");
/// assert_eq!(s, "http_requests_total");
/// assert_eq!(s.len(), 19);
///
/// let body = Bytes::from_static(b"job=backup");
/// assert_eq!(Str::from_utf8_slice(&body, 4..10).unwrap(), "backup");
/// ```
pub struct Str {
    data: Data,
    // `len + 1` for inline bytes, `SHARED` for a `Bytes`. Word-sized and
    // written whole, as `data` is, so that moving a `Str` never reads back
    // a word from narrower stores (a store-forwarding stall on every move
    // of a byte-tagged enum); non-zero, so `Option<Str>` is no bigger.
    tag: NonZeroUsize,
}

#[repr(C)]
union Data {
    inline: [u8; INLINE],
    shared: ManuallyDrop<Bytes>,
}

impl Clone for Str {
    #[inline]
    fn clone(&self) -> Str {
        let data = match self.shared_bytes() {
            Some(b) => Data {
                shared: ManuallyDrop::new(b.clone()),
            },
            // SAFETY: not shared, so `inline` is the initialised field.
            None => Data {
                inline: unsafe { self.data.inline },
            },
        };
        Str {
            data,
            tag: self.tag,
        }
    }
}

impl Drop for Str {
    #[inline]
    fn drop(&mut self) {
        if self.tag == SHARED {
            // SAFETY: `shared` is the initialised field, dropped only here.
            unsafe { ManuallyDrop::drop(&mut self.data.shared) }
        }
    }
}

impl Default for Str {
    fn default() -> Str {
        Str::new()
    }
}

impl Str {
    /// The longest string a `Str` holds in place, without a buffer.
    ///
    /// Label names and values, and most metric names, are shorter: copying
    /// them is cheaper than the two atomic reference-count updates (one on
    /// clone, one on drop) that sharing a buffer costs.
    pub const INLINE_CAPACITY: usize = INLINE;

    /// An empty string.
    pub const fn new() -> Str {
        Str {
            data: Data {
                inline: [0; INLINE],
            },
            tag: NonZeroUsize::MIN,
        }
    }

    /// A string from a `'static` literal, without copying.
    pub const fn from_static(s: &'static str) -> Str {
        Str::shared(Bytes::from_static(s.as_bytes()))
    }

    const fn shared(bytes: Bytes) -> Str {
        Str {
            data: Data {
                shared: ManuallyDrop::new(bytes),
            },
            tag: SHARED,
        }
    }

    /// The `Bytes`, if this string is a slice of one.
    #[inline]
    fn shared_bytes(&self) -> Option<&Bytes> {
        if self.tag == SHARED {
            // SAFETY: the tag says `shared` is the initialised field.
            Some(unsafe { &self.data.shared })
        } else {
            None
        }
    }

    /// Checks that `bytes` is UTF-8 and wraps it (short strings are copied
    /// in place, and `bytes` released).
    pub fn from_utf8(bytes: Bytes) -> Result<Str, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        // SAFETY: checked just above.
        Ok(unsafe { Str::from_utf8_unchecked(bytes) })
    }

    /// Wraps `bytes` without checking it.
    ///
    /// # Safety
    /// `bytes` must be valid UTF-8.
    pub unsafe fn from_utf8_unchecked(bytes: Bytes) -> Str {
        Str::inline(&bytes).unwrap_or_else(|| Str::shared(bytes))
    }

    /// `body[range]`, checked to be UTF-8: copied in place if short, else a
    /// slice sharing `body`'s memory.
    ///
    /// # Panics
    /// If `range` is out of `body`'s bounds, as slicing would.
    pub fn from_utf8_slice(
        body: &Bytes,
        range: std::ops::Range<usize>,
    ) -> Result<Str, std::str::Utf8Error> {
        let bytes = &body[range.clone()];
        if !bytes.is_ascii() {
            std::str::from_utf8(bytes)?;
        }
        // SAFETY: checked just above.
        Ok(unsafe { Str::from_utf8_slice_unchecked(body, range) })
    }

    /// As [`Str::from_utf8_slice`], without the check.
    ///
    /// # Safety
    /// `body[range]` must be valid UTF-8.
    #[inline]
    pub unsafe fn from_utf8_slice_unchecked(body: &Bytes, range: std::ops::Range<usize>) -> Str {
        let len = body[range.clone()].len();
        if len > INLINE {
            return Str::shared(body.slice(range));
        }
        // A fixed-size copy (two vector moves, not a call to memcpy) when
        // the body has the bytes; those past `len` are never read.
        match body.get(range.start..range.start + INLINE) {
            Some(window) => Str {
                data: Data {
                    inline: window.try_into().expect("INLINE bytes"),
                },
                tag: inline_tag(len),
            },
            None => Str::inline(&body[range]).expect("short enough"),
        }
    }

    /// `bytes` held in place, if they fit (the caller vouches for UTF-8).
    #[inline]
    fn inline(bytes: &[u8]) -> Option<Str> {
        if bytes.len() > INLINE {
            return None;
        }
        let mut inline = [0; INLINE];
        inline[..bytes.len()].copy_from_slice(bytes);
        Some(Str {
            data: Data { inline },
            tag: inline_tag(bytes.len()),
        })
    }

    /// The string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor checks or requires UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }

    /// The string's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self.shared_bytes() {
            Some(b) => b,
            // SAFETY: not shared, so `inline` is the initialised field, and
            // the tag is `len + 1` with `len <= INLINE`.
            None => unsafe { self.data.inline.get_unchecked(..self.tag.get() - 1) },
        }
    }

    /// Gives up the string, returning its bytes (a copy if it was short).
    pub fn into_bytes(self) -> Bytes {
        if self.tag != SHARED {
            return Bytes::copy_from_slice(self.as_bytes());
        }
        let mut this = ManuallyDrop::new(self);
        // SAFETY: the tag says `shared` is the initialised field; `this` is
        // never dropped, so the `Bytes` moves out exactly once.
        unsafe { ManuallyDrop::take(&mut this.data.shared) }
    }
}

/// A body checked to be UTF-8 once, whose slices become [`Str`]s without
/// checking again: what the text decoders read.
#[derive(Clone, Debug)]
pub(crate) struct Utf8Body {
    // Invariant: valid UTF-8.
    bytes: Bytes,
    // Invariant: whether every byte is ASCII, so every index a character
    // boundary.
    ascii: bool,
}

impl Utf8Body {
    /// Checks that `bytes` is UTF-8; if not, gives them back with the error.
    pub(crate) fn new(bytes: Bytes) -> Result<Utf8Body, (Bytes, std::str::Utf8Error)> {
        // Bodies are nearly always ASCII, which is quicker to check.
        let ascii = bytes.is_ascii();
        if !ascii {
            if let Err(e) = std::str::from_utf8(&bytes) {
                return Err((bytes, e));
            }
        }
        Ok(Utf8Body { bytes, ascii })
    }

    /// The whole body.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: `new` checked that the bytes are UTF-8, and they never
        // change (`Bytes` is immutable).
        unsafe { std::str::from_utf8_unchecked(&self.bytes) }
    }

    /// `body[range]`, as `&self.as_str()[range]` but quicker in an ASCII
    /// body, where any index is a character boundary.
    ///
    /// # Panics
    /// If `range` is out of bounds or does not start and end on character
    /// boundaries, as slicing a `str` would.
    #[inline]
    pub(crate) fn get(&self, range: Range<usize>) -> &str {
        self.check(&range);
        // SAFETY: `range` lies within the body and starts and ends on
        // character boundaries (`check`), so these bytes of the UTF-8 body
        // are UTF-8 too.
        unsafe { std::str::from_utf8_unchecked(&self.bytes[range]) }
    }

    /// `body[range]` as a [`Str`]: copied in place if short, else sharing
    /// the body's memory (see [`Str::from_utf8_slice`]), without checking
    /// UTF-8 again.
    ///
    /// # Panics
    /// As [`Utf8Body::get`].
    #[inline]
    pub(crate) fn slice(&self, range: Range<usize>) -> Str {
        self.check(&range);
        // SAFETY: as in `get`, `self.bytes[range]` is UTF-8.
        unsafe { Str::from_utf8_slice_unchecked(&self.bytes, range) }
    }

    /// Panics unless `range` is a slice of the body on character boundaries.
    #[inline]
    fn check(&self, range: &Range<usize>) {
        let ok = if self.ascii {
            range.start <= range.end && range.end <= self.bytes.len()
        } else {
            let text = self.as_str();
            range.start <= range.end
                && text.is_char_boundary(range.start)
                && text.is_char_boundary(range.end)
        };
        if !ok {
            bad_range(range, self.bytes.len());
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bad_range(range: &Range<usize>, len: usize) -> ! {
    panic!("{range:?} is not a slice of the {len}-byte body on character boundaries")
}

/// The tag of `len` inline bytes.
#[inline]
fn inline_tag(len: usize) -> NonZeroUsize {
    debug_assert!(len <= INLINE);
    NonZeroUsize::MIN.saturating_add(len)
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::inline(s.as_bytes()).unwrap_or_else(|| Str::shared(Bytes::from(s)))
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::inline(s.as_bytes())
            .unwrap_or_else(|| Str::shared(Bytes::copy_from_slice(s.as_bytes())))
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::from(s.as_str())
    }
}

impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Str {
        Str::from(String::from(s))
    }
}

impl From<std::borrow::Cow<'_, str>> for Str {
    fn from(s: std::borrow::Cow<'_, str>) -> Str {
        match s {
            std::borrow::Cow::Borrowed(b) => Str::from(b),
            std::borrow::Cow::Owned(o) => Str::from(o),
        }
    }
}

impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_owned()
    }
}

impl TryFrom<Bytes> for Str {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Str, Self::Error> {
        Str::from_utf8(b)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Str {
    // Hash as `str` does, so that `Borrow<str>` lookups in maps work.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn rejects_invalid_utf8() {
        assert!(Str::from_utf8(Bytes::from_static(b"\xff\xfe")).is_err());
        assert_eq!(Str::from_utf8(Bytes::from_static(b"ok")).unwrap(), "ok");
    }

    #[test]
    fn borrows_as_str_in_maps() {
        let mut m = HashMap::new();
        m.insert(Str::from("job"), 1);
        assert_eq!(m.get("job"), Some(&1));
    }

    #[test]
    fn orders_like_str() {
        let mut v = vec![Str::from("b"), Str::from("a"), Str::from("ab")];
        v.sort();
        assert_eq!(v, vec!["a", "ab", "b"]);
    }

    #[test]
    fn shared_strings_release_the_body() {
        let long = "y".repeat(Str::INLINE_CAPACITY + 8);
        let body = Bytes::from(long.clone().into_bytes());
        let s = Str::from_utf8_slice(&body, 0..body.len()).unwrap();
        let copies: Vec<Str> = (0..3).map(|_| s.clone()).collect();
        assert!(!body.is_unique());
        drop(copies);
        let back = s.into_bytes();
        assert_eq!(back, long.as_bytes());
        assert!(!body.is_unique());
        drop(back);
        assert!(body.is_unique(), "every clone, and into_bytes, let go");
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Str>();
    }

    #[test]
    fn option_of_str_is_no_bigger() {
        assert_eq!(std::mem::size_of::<Str>(), 40);
        assert_eq!(std::mem::size_of::<Option<Str>>(), 40);
    }

    #[test]
    fn long_slices_share_memory_short_ones_are_copied() {
        let long = "x".repeat(Str::INLINE_CAPACITY + 1);
        let body = Bytes::from(format!("ab={long}"));
        let s = Str::from_utf8_slice(&body, 3..body.len()).unwrap();
        assert_eq!(s, long.as_str());
        assert_eq!(s.as_bytes().as_ptr(), body[3..].as_ptr());
        let short = Str::from_utf8_slice(&body, 0..2).unwrap();
        assert_eq!(short, "ab");
        assert_ne!(short.as_bytes().as_ptr(), body.as_ptr());
    }

    #[test]
    fn the_boundary_is_inline_capacity() {
        for n in [
            0,
            1,
            Str::INLINE_CAPACITY - 1,
            Str::INLINE_CAPACITY,
            Str::INLINE_CAPACITY + 1,
        ] {
            let text = "é".repeat(n / 2) + &"a".repeat(n % 2);
            let from_str = Str::from(text.as_str());
            let from_string = Str::from(text.clone());
            let from_bytes = Str::from_utf8(Bytes::from(text.clone())).unwrap();
            for s in [&from_str, &from_string, &from_bytes] {
                assert_eq!(s.as_str(), text);
                assert_eq!(s.clone(), *s);
                assert_eq!(s.clone().into_bytes(), text.as_bytes());
            }
            assert_eq!(
                from_str.shared_bytes().is_none(),
                text.len() <= Str::INLINE_CAPACITY
            );
        }
    }

    #[test]
    fn slices_are_checked() {
        let body = Bytes::from_static(b"ok\xff\xfe");
        assert!(Str::from_utf8_slice(&body, 0..4).is_err());
        assert_eq!(Str::from_utf8_slice(&body, 0..2).unwrap(), "ok");
    }

    #[test]
    fn utf8_bodies_are_checked_once_and_sliced_on_boundaries() {
        let (bytes, e) = Utf8Body::new(Bytes::from_static(b"ok\n\xff")).unwrap_err();
        assert_eq!((bytes.len(), e.valid_up_to()), (4, 3));
        let long = "é".repeat(Str::INLINE_CAPACITY);
        let body = Utf8Body::new(Bytes::from(format!("a=\"{long}\""))).unwrap();
        assert_eq!(body.as_str(), format!("a=\"{long}\""));
        assert_eq!(body.slice(0..1), "a");
        assert_eq!(body.slice(3..3 + long.len()), long.as_str());
        assert_eq!(body.slice(5..5), "");
        assert_eq!(body.get(3..5), "é");
        let ascii = Utf8Body::new(Bytes::from_static(b"job=a")).unwrap();
        assert_eq!(
            (ascii.get(0..3), ascii.slice(4..5)),
            ("job", Str::from("a"))
        );
    }

    #[test]
    #[should_panic(expected = "character boundaries")]
    fn utf8_bodies_refuse_slices_inside_a_character() {
        let body = Utf8Body::new(Bytes::from_static("é".as_bytes())).unwrap();
        let _ = body.slice(0..1);
    }

    #[test]
    #[should_panic(expected = "character boundaries")]
    fn utf8_bodies_refuse_strs_inside_a_character() {
        let body = Utf8Body::new(Bytes::from_static("aé".as_bytes())).unwrap();
        let _ = body.get(1..2);
    }

    #[test]
    fn utf8_bodies_refuse_slices_out_of_bounds_or_backward() {
        #[allow(clippy::reversed_empty_ranges)]
        for range in [2..4, 4..4, 2..1] {
            for text in ["abc", "éa"] {
                let body = Utf8Body::new(Bytes::from_static(text.as_bytes())).unwrap();
                let r = range.clone();
                assert!(std::panic::catch_unwind(|| body.slice(r.clone())).is_err());
                assert!(std::panic::catch_unwind(|| body.get(r.clone()).len()).is_err());
            }
        }
    }
}
