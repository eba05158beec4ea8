//! [`StageFuture`]: the future of the stages that either refuse a request
//! at once or hand it on unchanged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::GatewayError;

pin_project! {
    /// The inner service's future, or an error found before calling it.
    ///
    /// The future of [`BodyLimit`](super::body_limit::BodyLimit),
    /// [`Decompress`](super::decompress::Decompress),
    /// [`Validate`](super::validate::Validate) and
    /// [`Transform`](super::transform::Transform).
    pub struct StageFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Error { error: Option<GatewayError> },
    }
}

impl<F> StageFuture<F> {
    pub(crate) fn inner(future: F) -> StageFuture<F> {
        StageFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn error(error: GatewayError) -> StageFuture<F> {
        StageFuture {
            kind: Kind::Error { error: Some(error) },
        }
    }
}

impl<F, T> Future for StageFuture<F>
where
    F: Future<Output = Result<T, GatewayError>>,
{
    type Output = Result<T, GatewayError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Error { error } => match error.take() {
                Some(e) => Poll::Ready(Err(e)),
                None => panic!("StageFuture polled after completion"),
            },
        }
    }
}

impl<F> std::fmt::Debug for StageFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageFuture").finish_non_exhaustive()
    }
}
