//! [`LogStore`]: messages logged through `tracing` (InfluxDB telemetry's
//! `LogStore`).

use std::fmt;

use super::{Message, MessageStore, StoreError};
use crate::grouping;

/// Logs each message at info level, with target `pushgate::store`, and
/// stores nothing else (InfluxDB telemetry's `LogStore`, which logs through
/// zap). It is a [`MessageStore`]: put it behind
/// [`Encoded`](super::Encoded) to choose the format it logs in.
///
/// The event carries the format, size, method and grouping key as fields and
/// the data as `data`: as text when it is UTF-8, else with non-printable
/// bytes escaped.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogStore {
    _private: (),
}

impl LogStore {
    /// A store that logs.
    pub fn new() -> LogStore {
        LogStore::default()
    }
}

/// Message data as it goes into the log.
struct Data<'a>(&'a [u8]);

impl fmt::Display for Data<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) => f.write_str(s),
            Err(_) => write!(f, "{}", self.0.escape_ascii()),
        }
    }
}

impl MessageStore for LogStore {
    /// Logged when polled, so that a write dropped unpolled logs nothing.
    async fn write_message(&self, message: Message) -> Result<(), StoreError> {
        tracing::info!(
            target: "pushgate::store",
            format = %message.format,
            bytes = message.data.len(),
            method = %message.method,
            grouping = %grouping::Display(&message.grouping),
            peer = message.peer.map(tracing::field::display),
            data = %Data(&message.data),
            "message",
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelPair;
    use crate::Format;
    use bytes::Bytes;

    /// A `tracing` writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn logs_each_message_at_info() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let m = Message::new(Bytes::from_static(b"up 1\n"), Format::Text)
            .with_grouping(vec![LabelPair::new("job", "a")]);
        let store = LogStore::new();
        let unpolled = store.write_message(m.clone());
        drop(unpolled);
        assert!(captured.0.lock().unwrap().is_empty());

        assert!(LogStore::new().write_message(m).await.is_ok());
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("INFO"), "{log}");
        assert!(log.contains("pushgate::store"), "{log}");
        assert!(log.contains("format=text"), "{log}");
        assert!(log.contains("bytes=5"), "{log}");
        assert!(log.contains("grouping={job=\"a\"}"), "{log}");
        assert!(log.contains("data=up 1"), "{log}");
    }

    #[test]
    fn data_is_text_or_escaped() {
        assert_eq!(Data(b"up 1\n").to_string(), "up 1\n");
        assert_eq!(Data(b"\x0a\xff").to_string(), "\\n\\xff");
    }
}
