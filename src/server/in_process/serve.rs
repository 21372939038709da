//! The request path: pin one deployment, validate, predict, answer, and
//! count and (for a sample) report the request.

use std::ops::Range;

use super::{InProcessServer, Served, Watch};
use crate::model::Predictions;
use crate::server::service::version_not_held;
use crate::server::{
    Health, ModelMetadata, ModelServer, Outcome, PredictEvent, PredictRequest, PredictResponse,
};
use crate::{Error, Result};

/// Counts one request into the thread's tally and reports it to the
/// observer when it was sampled, failed or carries an id.
///
/// `current` says whether `served` is the serving version: only then may
/// the tally move to it, so that requests alternating between the serving
/// and a held version don't move it back and forth.
#[inline]
pub(super) fn observe<'a>(
    watch: Option<Watch<'_>>,
    served: &'a Served,
    current: bool,
    request: &'a PredictRequest<'_>,
    rows: Option<ndarray::ArrayView2<'a, f64>>,
    outcome: Result<&'a Predictions, &'a Error>,
) {
    let Some(w) = watch else { return };
    let d = &served.deployment;
    let served_rows = outcome.map_or(0, |p| p.len() as u64);
    w.tally.count(
        &w.observed.totals.tallies,
        d.version,
        Outcome::of(outcome),
        served_rows,
        current,
    );
    if w.started.is_none() && request.id.is_none() && outcome.is_ok() {
        return;
    }
    w.observed.observer.on_predict(&PredictEvent {
        model: &d.name,
        version: d.version,
        request_id: request.id(),
        rows,
        outcome,
        latency: w.started.map(|s| s.elapsed()),
    });
}

/// Serves `request` with one pinned deployment.
pub(super) fn serve(
    served: &Served,
    current: bool,
    request: PredictRequest<'_>,
    watch: Option<Watch<'_>>,
) -> Result<PredictResponse> {
    let d = &served.deployment;
    let encoded = match request.encode(d.schema()) {
        Ok(e) => e,
        Err(e) => {
            observe(watch, served, current, &request, None, Err(&e));
            return Err(e);
        }
    };
    let rows = encoded.view();
    let result = d.predict(rows).map_err(Error::from);
    observe(
        watch,
        served,
        current,
        &request,
        Some(rows),
        result.as_ref(),
    );
    drop(encoded);
    Ok(PredictResponse {
        model: d.name.clone(),
        version: d.version,
        id: request.id,
        predictions: result?,
        output: d.output.clone(),
    })
}

/// Serves several requests with one pinned deployment and one model call,
/// observing each request (with its own rows).
pub(super) fn serve_many(
    served: &Served,
    current: bool,
    requests: Vec<PredictRequest<'_>>,
    watch: Option<Watch<'_>>,
) -> Vec<Result<PredictResponse>> {
    let d = &served.deployment;
    let width = d.schema().len();
    let mut values = Vec::with_capacity(requests.len() * width);
    // Row range of each request in the stacked matrix, or its own error.
    let mut spans: Vec<Result<Range<usize>>> = Vec::with_capacity(requests.len());
    let mut total = 0;
    for r in &requests {
        let before = values.len();
        let encoded = match r.version {
            Some(v) if v != d.version => Err(version_not_held(&d.name, v, vec![d.version])),
            _ => r.encode_into(d.schema(), &mut values),
        };
        match encoded {
            Ok(n) => {
                spans.push(Ok(total..total + n));
                total += n;
            }
            Err(e) => {
                values.truncate(before);
                spans.push(Err(e));
            }
        }
    }
    let matrix = ndarray::ArrayView2::from_shape((total, width), &values)
        .expect("each request appended whole rows of the schema's width");
    let outcome = (total > 0).then(|| d.predict(matrix).map_err(Error::from));
    requests
        .into_iter()
        .zip(spans)
        .map(|(r, span)| {
            let result = span.and_then(|span| {
                let predictions = match &outcome {
                    Some(Ok(p)) => p.slice(span.clone()),
                    Some(Err(e)) => return Err(e.clone()),
                    None => Predictions::scores(Vec::new()),
                };
                Ok((span, predictions))
            });
            match result {
                Ok((span, predictions)) => {
                    let rows = matrix.slice_axis(ndarray::Axis(0), span.into());
                    observe(watch, served, current, &r, Some(rows), Ok(&predictions));
                    Ok(PredictResponse {
                        model: d.name.clone(),
                        version: d.version,
                        id: r.id,
                        predictions,
                        output: d.output.clone(),
                    })
                }
                Err(e) => {
                    observe(watch, served, current, &r, None, Err(&e));
                    Err(e)
                }
            }
        })
        .collect()
}

impl ModelServer for InProcessServer {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        let watch = self.observed.as_deref().map(|o| o.watch());
        // A guard, not an `Arc`: pinning the version for the request's
        // lifetime touches no shared reference count.
        let current = self.slot.load();
        match request.version {
            Some(v) if v != current.deployment.version => {
                let previous = self.previous.load_full();
                match previous.filter(|p| p.deployment.version == v) {
                    Some(p) => serve(&p, false, request, watch),
                    None => {
                        let e = version_not_held(
                            &current.deployment.name,
                            v,
                            self.held_versions(&current),
                        );
                        // Counted against the serving version: the one asked
                        // for may be anything.
                        observe(watch, &current, true, &request, None, Err(&e));
                        Err(e)
                    }
                }
            }
            _ => serve(&current, true, request, watch),
        }
    }

    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        // One pinned deployment for the whole group; requests that ask for
        // another held version are served by that version separately.
        let current = self.slot.load();
        let (mine, others): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .enumerate()
            .partition(|(_, r)| r.version.is_none_or(|v| v == current.deployment.version));
        let mut out: Vec<Option<Result<PredictResponse>>> =
            (0..mine.len() + others.len()).map(|_| None).collect();
        let (idx, reqs): (Vec<usize>, Vec<_>) = mine.into_iter().unzip();
        let watch = self.observed.as_deref().map(|o| o.watch());
        for (i, r) in idx.into_iter().zip(serve_many(&current, true, reqs, watch)) {
            out[i] = Some(r);
        }
        drop(current);
        for (i, r) in others {
            out[i] = Some(self.predict(r));
        }
        out.into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect()
    }

    fn metadata(&self) -> Result<ModelMetadata> {
        let served = self.slot.load();
        Ok(ModelMetadata {
            name: served.deployment.name.clone(),
            version: served.deployment.version,
            held_versions: self.held_versions(&served),
            schema: served.deployment.schema().clone(),
            output: served.deployment.output.clone(),
            generation: served.generation,
        })
    }

    fn health(&self) -> Health {
        Health::Ready
    }
}
