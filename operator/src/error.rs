//! One error type for the controllers, with the label it carries on the metrics.

use socialscalr_core::store::StoreError;
use socialscalr_core::tenancy::TenancyError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("store: {0}")]
    Tenancy(#[from] TenancyError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("the resource has no {0}")]
    MissingMetadata(&'static str),
}

impl Error {
    /// The `error` label of the reconcile error counter: a small fixed set, never a name.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kubernetes",
            Error::Store(_) | Error::Tenancy(_) => "store",
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.metric_label(),
                _ => "finalizer",
            },
            Error::MissingMetadata(_) => "metadata",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
