//! [`PinnedModel`]: one version held for multi-step work.

use std::sync::Arc;

use super::serve::{serve, serve_many};
use super::{Observed, Served};
use crate::Result;
use crate::deployment::Deployment;
use crate::server::service::version_not_held;
use crate::server::{Health, ModelMetadata, ModelServer, PredictRequest, PredictResponse};

/// One model version held for multi-step work (see
/// [`InProcessServer::pin`](super::InProcessServer::pin)). It serves every
/// request with that version and keeps it alive until dropped; its requests
/// reach the server's observer like any other.
#[derive(Debug, Clone)]
pub struct PinnedModel {
    served: Arc<Served>,
    observed: Option<Arc<Observed>>,
}

impl PinnedModel {
    pub(super) fn new(served: Arc<Served>, observed: Option<Arc<Observed>>) -> Self {
        Self { served, observed }
    }

    /// The pinned deployment.
    #[must_use]
    pub fn deployment(&self) -> &Deployment {
        &self.served.deployment
    }
}

impl ModelServer for PinnedModel {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        let d = &self.served.deployment;
        if let Some(v) = request.version.filter(|&v| v != d.version) {
            return Err(version_not_held(&d.name, v, vec![d.version]));
        }
        let watch = self.observed.as_deref().map(|o| o.watch());
        // Not the serving version as far as the pin knows: counted without
        // moving the thread's tally.
        serve(&self.served, false, request, watch)
    }

    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        let watch = self.observed.as_deref().map(|o| o.watch());
        serve_many(&self.served, false, requests, watch)
    }

    fn metadata(&self) -> Result<ModelMetadata> {
        let d = &self.served.deployment;
        Ok(ModelMetadata {
            name: d.name.clone(),
            version: d.version,
            held_versions: vec![d.version],
            schema: d.schema().clone(),
            output: d.output.clone(),
            generation: self.served.generation,
        })
    }

    fn health(&self) -> Health {
        Health::Ready
    }
}
