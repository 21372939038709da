//! The [`ModelServer`] trait and the values that cross it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::PredictFuture;
use crate::model::{OutputKind, Prediction, Predictions};
use crate::schema::{FeatureBatch, FeatureMap, FeatureSchema, FeatureVector};
use crate::{Error, Result};

/// Something that serves predictions for one named model.
///
/// The trait is small, object-safe and `Send + Sync`: host code, the
/// [batcher](crate::batching::Batcher) and the transports all talk to a
/// `dyn ModelServer`, and anyone can implement it: every type that crosses
/// it has public constructors ([`PredictResponse::new`],
/// [`ModelMetadata::new`]) and accessors ([`PredictRequest::encode`]), so a
/// layer of your own (a cache, a timer, a router between models) wraps any
/// server the way a tower middleware wraps a `Service`. The repository's
/// `examples/custom_layer.rs` shows one built from public API alone.
///
/// # Use from async code
///
/// [`predict`](ModelServer::predict) blocks and needs no runtime. A
/// single-row prediction through [`InProcessServer`](crate::InProcessServer)
/// takes well under a microsecond, so calling it inside an async task is
/// fine. [`predict_async`](ModelServer::predict_async) is the path for
/// servers that wait (a [`Batcher`](crate::batching::Batcher) queues the
/// request and returns a future without blocking a runtime thread); its
/// default answers at once through `predict`. For a blocking server whose
/// model takes milliseconds, use the runtime's blocking pool (for tokio,
/// `spawn_blocking` with [`PredictRequest::into_owned`]).
///
/// # Examples
///
/// A server that serves a fixed answer, written against the public API:
///
/// ```
/// use std::sync::Arc;
/// use modelhost::server::{Health, ModelMetadata};
/// use modelhost::{
///     Feature, FeatureSchema, ModelServer, OutputKind, PredictRequest, PredictResponse,
///     Predictions,
/// };
///
/// #[derive(Debug)]
/// struct AlwaysYes {
///     schema: FeatureSchema,
///     output: Arc<OutputKind>,
/// }
///
/// impl ModelServer for AlwaysYes {
///     fn predict(&self, request: PredictRequest<'_>) -> modelhost::Result<PredictResponse> {
///         let rows = request.encode(&self.schema)?; // every check a real server makes
///         let predictions = Predictions::classes(vec![1; rows.len()], 2)?;
///         Ok(PredictResponse::new("always-yes", 1, predictions, self.output.clone())
///             .with_id(request.id().map(str::to_owned)))
///     }
///     fn metadata(&self) -> modelhost::Result<ModelMetadata> {
///         Ok(ModelMetadata::new("always-yes", 1, self.schema.clone(), self.output.clone()))
///     }
///     fn health(&self) -> Health {
///         Health::Ready
///     }
/// }
///
/// let schema = FeatureSchema::builder().feature(Feature::float("x")).build()?;
/// let server = AlwaysYes { schema, output: Arc::new(OutputKind::classification(["no", "yes"])) };
/// let input = modelhost::FeatureMap::new().with("x", 0.5);
/// assert_eq!(server.predict(PredictRequest::new(&input))?.label(0), Some("yes"));
/// assert!(server.predict(PredictRequest::new(&modelhost::FeatureMap::new())).is_err());
/// # Ok::<(), modelhost::Error>(())
/// ```
pub trait ModelServer: Send + Sync + fmt::Debug {
    /// Serves one request (one or many rows), all by one model version.
    ///
    /// # Errors
    ///
    /// [`Error::Schema`] naming every invalid feature; [`Error::VersionNotHeld`]
    /// when the request asks for a version the server does not hold; the
    /// model's own failures ([`Error::Model`], [`Error::ModelPanicked`]); and,
    /// for servers that queue, [`Error::Overloaded`], [`Error::DeadlineExceeded`]
    /// or [`Error::ShuttingDown`].
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse>;

    /// Serves one request without blocking the calling thread where the
    /// server would wait (a queue); the future needs no particular runtime.
    ///
    /// The default answers at once through [`predict`](Self::predict):
    /// right for servers that never wait, such as
    /// [`InProcessServer`](crate::InProcessServer).
    /// [`Batcher`](crate::batching::Batcher) overrides it: admission (or
    /// [`Error::Overloaded`]) is decided when it is called, and the future
    /// resolves when a worker has served the request's batch.
    ///
    /// # Errors
    ///
    /// As [`predict`](Self::predict).
    fn predict_async<'a>(&'a self, request: PredictRequest<'a>) -> PredictFuture<'a> {
        PredictFuture::ready(self.predict(request))
    }

    /// Serves several independent requests together, by one model version,
    /// in one model call where possible. One request's invalid input fails
    /// that request only.
    ///
    /// The default implementation serves them one by one.
    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        requests.into_iter().map(|r| self.predict(r)).collect()
    }

    /// The serving model's name, version, schema and output.
    ///
    /// # Errors
    ///
    /// [`Error::NotReady`] when nothing is being served.
    fn metadata(&self) -> Result<ModelMetadata>;

    /// Whether the server can take requests now.
    fn health(&self) -> Health;
}

impl<S: ModelServer + ?Sized> ModelServer for Arc<S> {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        (**self).predict(request)
    }
    fn predict_async<'a>(&'a self, request: PredictRequest<'a>) -> PredictFuture<'a> {
        (**self).predict_async(request)
    }
    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        (**self).predict_many(requests)
    }
    fn metadata(&self) -> Result<ModelMetadata> {
        (**self).metadata()
    }
    fn health(&self) -> Health {
        (**self).health()
    }
}

/// Whether a server can take requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Health {
    /// Serving.
    Ready,
    /// Not serving yet or any more.
    NotReady {
        /// Why.
        reason: String,
    },
}

impl Health {
    /// Whether requests can be served.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready)
    }
}

/// What a server is serving.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModelMetadata {
    /// The model's name.
    pub name: Arc<str>,
    /// The version serving new requests.
    pub version: u64,
    /// Every version a request may ask for with [`PredictRequest::with_version`].
    pub held_versions: Vec<u64>,
    /// The input contract of the serving version.
    pub schema: FeatureSchema,
    /// What the serving version outputs.
    pub output: Arc<OutputKind>,
    /// Incremented by every successful swap or rollback.
    pub generation: u64,
}

impl ModelMetadata {
    /// Metadata of a server that serves `version` of `name` and holds no
    /// other version (add more with [`held_versions`](Self::held_versions)).
    pub fn new(
        name: impl Into<Arc<str>>,
        version: u64,
        schema: FeatureSchema,
        output: impl Into<Arc<OutputKind>>,
    ) -> Self {
        Self {
            name: name.into(),
            version,
            held_versions: vec![version],
            schema,
            output: output.into(),
            generation: 0,
        }
    }

    /// Every version a request may ask for (the serving one included).
    #[must_use]
    pub fn held_versions(mut self, versions: Vec<u64>) -> Self {
        self.held_versions = versions;
        self
    }

    /// The swap generation (a counter that every swap or rollback raises).
    #[must_use]
    pub fn generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }
}

/// A type-erased typed input: any `Serialize + Clone` host struct.
pub(crate) trait TypedInput: Send + Sync {
    fn encode(&self, schema: &FeatureSchema) -> Result<FeatureVector>;
    fn clone_box(&self) -> Box<dyn TypedInput>;
}

impl<T> TypedInput for T
where
    T: Serialize + Clone + Send + Sync + 'static,
{
    fn encode(&self, schema: &FeatureSchema) -> Result<FeatureVector> {
        Ok(schema.encode(self)?)
    }
    fn clone_box(&self) -> Box<dyn TypedInput> {
        Box::new(self.clone())
    }
}

/// The features of a request, borrowed or owned.
pub(crate) enum Input<'a> {
    Map(Cow<'a, FeatureMap>),
    Maps(Cow<'a, [FeatureMap]>),
    Vector(Cow<'a, FeatureVector>),
    Batch(Cow<'a, FeatureBatch>),
    TypedRef(&'a dyn TypedInput),
    TypedOwned(Box<dyn TypedInput>),
    /// Rows already encoded in schema order, not yet validated.
    Encoded(Cow<'a, ndarray::Array2<f64>>),
}

/// One prediction request: its features, and optionally an id, a deadline
/// and the exact version that must serve it.
///
/// Requests borrow their input where they can, so the in-process path copies
/// nothing; [`PredictRequest::into_owned`] makes a `'static` request for
/// queues.
///
/// # Examples
///
/// ```
/// use modelhost::{FeatureMap, PredictRequest};
///
/// let features = FeatureMap::new().with("basket_value", 12.5);
/// let request = PredictRequest::new(&features).with_id("order-17");
/// assert_eq!(request.id(), Some("order-17"));
/// ```
pub struct PredictRequest<'a> {
    pub(crate) input: Input<'a>,
    pub(crate) id: Option<String>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) version: Option<u64>,
}

impl<'a> PredictRequest<'a> {
    fn from_input(input: Input<'a>) -> Self {
        Self {
            input,
            id: None,
            deadline: None,
            version: None,
        }
    }

    /// One row of raw features, validated by the serving version's schema.
    #[must_use]
    pub fn new(features: &'a FeatureMap) -> Self {
        Self::from_input(Input::Map(Cow::Borrowed(features)))
    }

    /// One row of raw features, owned.
    #[must_use]
    pub fn owned(features: FeatureMap) -> PredictRequest<'static> {
        PredictRequest::from_input(Input::Map(Cow::Owned(features)))
    }

    /// Many rows of raw features, predicted together.
    #[must_use]
    pub fn rows(rows: impl Into<Cow<'a, [FeatureMap]>>) -> Self {
        Self::from_input(Input::Maps(rows.into()))
    }

    /// An already validated row. It must have been validated against a
    /// schema with the serving version's fingerprint. (Owned rows and batches
    /// convert with `PredictRequest::from`.)
    #[must_use]
    pub fn vector(row: &'a FeatureVector) -> Self {
        Self::from_input(Input::Vector(Cow::Borrowed(row)))
    }

    /// An already validated batch.
    #[must_use]
    pub fn batch(batch: &'a FeatureBatch) -> Self {
        Self::from_input(Input::Batch(Cow::Borrowed(batch)))
    }

    /// Rows already encoded as `f64` in schema order (rows × features), not
    /// yet validated: the server checks them with
    /// [`FeatureSchema::validate_encoded_batch`] against the schema of the
    /// version that predicts them, so validation and prediction cannot see
    /// two versions. Combine with [`with_version`](Self::with_version) when
    /// the rows were built from one version's metadata (feature order,
    /// categorical levels).
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::PredictRequest;
    /// use ndarray::array;
    ///
    /// let rows = array![[1.0, 0.0], [2.5, 1.0]];
    /// let request = PredictRequest::encoded(&rows);
    /// assert_eq!(request.row_count(), 2);
    /// ```
    #[must_use]
    pub fn encoded(rows: &'a ndarray::Array2<f64>) -> Self {
        Self::from_input(Input::Encoded(Cow::Borrowed(rows)))
    }

    /// As [`encoded`](Self::encoded), taking the rows: a request that
    /// borrows nothing, for handing to another thread or a queue.
    #[must_use]
    pub fn encoded_owned(rows: ndarray::Array2<f64>) -> PredictRequest<'static> {
        PredictRequest::from_input(Input::Encoded(Cow::Owned(rows)))
    }

    /// A typed host struct, encoded by the serving version's schema (see
    /// [`FeatureSchema::encode`]).
    #[must_use]
    pub fn typed<T>(value: &'a T) -> Self
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        Self::from_input(Input::TypedRef(value))
    }

    /// Tags the request; the response echoes the id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// A point in time after which the request is not worth serving (used by
    /// queueing servers; default: none, or the queue's default).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Requires exactly this model version (it must be held by the server;
    /// default: whichever version is current).
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// The request id, if any.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The deadline, if any.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The version required, if any.
    #[must_use]
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Number of rows, where known without encoding (typed input is one row).
    #[must_use]
    pub fn row_count(&self) -> usize {
        match &self.input {
            Input::Map(_) | Input::Vector(_) | Input::TypedRef(_) | Input::TypedOwned(_) => 1,
            Input::Maps(m) => m.len(),
            Input::Batch(b) => b.len(),
            Input::Encoded(e) => e.nrows(),
        }
    }

    /// A request that owns its input, for queues and other threads.
    #[must_use]
    pub fn into_owned(self) -> PredictRequest<'static> {
        let input = match self.input {
            Input::Map(m) => Input::Map(Cow::Owned(m.into_owned())),
            Input::Maps(m) => Input::Maps(Cow::Owned(m.into_owned())),
            Input::Vector(v) => Input::Vector(Cow::Owned(v.into_owned())),
            Input::Batch(b) => Input::Batch(Cow::Owned(b.into_owned())),
            Input::TypedRef(t) => Input::TypedOwned(t.clone_box()),
            Input::TypedOwned(t) => Input::TypedOwned(t),
            Input::Encoded(e) => Input::Encoded(Cow::Owned(e.into_owned())),
        };
        PredictRequest {
            input,
            id: self.id,
            deadline: self.deadline,
            version: self.version,
        }
    }

    /// Validates the input against `schema` (or, for input validated
    /// before, checks it follows a schema with the same encoding), borrowing
    /// already validated input instead of copying it. This is every check
    /// [`InProcessServer`](crate::InProcessServer) makes before its model
    /// sees the rows; a server of your own calls it with the schema of the
    /// version that will predict.
    ///
    /// # Errors
    ///
    /// [`Error::Schema`] naming every violation, [`Error::WidthMismatch`],
    /// [`Error::SchemaMismatch`] for rows validated against another schema,
    /// [`Error::TypedInput`].
    pub fn encode(&self, schema: &FeatureSchema) -> Result<ValidatedRows<'_>> {
        let check = |found: &FeatureSchema| crate::model::check_schema(schema, found);
        Ok(ValidatedRows(match &self.input {
            Input::Map(m) => Encoded::Vector(Cow::Owned(schema.validate(m)?)),
            Input::Maps(m) => Encoded::Batch(Cow::Owned(schema.validate_batch(m)?)),
            Input::Vector(v) => {
                check(v.schema())?;
                Encoded::Vector(Cow::Borrowed(v))
            }
            Input::Batch(b) => {
                check(b.schema())?;
                Encoded::Batch(Cow::Borrowed(b))
            }
            Input::TypedRef(t) => Encoded::Vector(Cow::Owned(t.encode(schema)?)),
            Input::TypedOwned(t) => Encoded::Vector(Cow::Owned(t.encode(schema)?)),
            Input::Encoded(e) => Encoded::Batch(Cow::Owned(
                schema.validate_encoded_batch(e.as_ref().clone())?,
            )),
        }))
    }

    /// Validates (or checks) the input against `schema`, appending its rows
    /// to `out` and returning how many rows it added.
    pub(crate) fn encode_into(&self, schema: &FeatureSchema, out: &mut Vec<f64>) -> Result<usize> {
        let check = |found: &FeatureSchema| crate::model::check_schema(schema, found);
        match &self.input {
            // Raw rows are validated straight into `out`: no row of its own.
            Input::Map(m) => schema.validate_into(std::slice::from_ref(&**m), false, out)?,
            Input::Maps(m) => {
                schema.validate_into(m, true, out)?;
                return Ok(m.len());
            }
            Input::Vector(v) => {
                check(v.schema())?;
                out.extend_from_slice(v.as_slice());
            }
            Input::Batch(b) => {
                check(b.schema())?;
                out.extend(b.rows().iter());
                return Ok(b.len());
            }
            Input::TypedRef(t) => out.extend_from_slice(t.encode(schema)?.as_slice()),
            Input::TypedOwned(t) => out.extend_from_slice(t.encode(schema)?.as_slice()),
            Input::Encoded(e) => {
                let batch = schema.validate_encoded_batch(e.as_ref().clone())?;
                out.extend(batch.rows().iter());
                return Ok(batch.len());
            }
        }
        Ok(1)
    }
}

/// The validated rows of one request ([`PredictRequest::encode`]), borrowed
/// where the request already held validated input.
#[derive(Debug)]
pub struct ValidatedRows<'r>(Encoded<'r>);

#[derive(Debug)]
enum Encoded<'r> {
    Vector(Cow<'r, FeatureVector>),
    Batch(Cow<'r, FeatureBatch>),
}

impl ValidatedRows<'_> {
    /// The rows, rows × features, in schema order.
    #[must_use]
    pub fn view(&self) -> ndarray::ArrayView2<'_, f64> {
        match &self.0 {
            Encoded::Vector(v) => v.as_row(),
            Encoded::Batch(b) => b.rows(),
        }
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.0 {
            Encoded::Vector(_) => 1,
            Encoded::Batch(b) => b.len(),
        }
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<FeatureMap> for PredictRequest<'static> {
    fn from(features: FeatureMap) -> Self {
        PredictRequest::owned(features)
    }
}

impl From<FeatureVector> for PredictRequest<'static> {
    fn from(row: FeatureVector) -> Self {
        PredictRequest::from_input(Input::Vector(Cow::Owned(row)))
    }
}

impl From<FeatureBatch> for PredictRequest<'static> {
    fn from(batch: FeatureBatch) -> Self {
        PredictRequest::from_input(Input::Batch(Cow::Owned(batch)))
    }
}

impl fmt::Debug for PredictRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = match &self.input {
            Input::Map(m) => format!("{m:?}"),
            Input::Maps(m) => format!("{} rows", m.len()),
            Input::Vector(v) => format!("{:?}", v.as_slice()),
            Input::Batch(b) => format!("{} validated rows", b.len()),
            Input::TypedRef(_) | Input::TypedOwned(_) => "typed".to_owned(),
            Input::Encoded(e) => format!("{} encoded rows", e.nrows()),
        };
        f.debug_struct("PredictRequest")
            .field("input", &input)
            .field("id", &self.id)
            .field("deadline", &self.deadline)
            .field("version", &self.version)
            .finish()
    }
}

/// The answer to a [`PredictRequest`]: the predictions and exactly which
/// model version produced them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PredictResponse {
    /// The model's name.
    pub model: Arc<str>,
    /// The version that served the request, end to end.
    pub version: u64,
    /// The request's id, echoed.
    pub id: Option<String>,
    /// One prediction per row.
    pub predictions: Predictions,
    /// The serving version's output kind (names the labels).
    pub output: Arc<OutputKind>,
}

impl PredictResponse {
    /// The answer of `version` of the model `name`: `predictions`, one per
    /// row, of the kind `output` describes.
    pub fn new(
        name: impl Into<Arc<str>>,
        version: u64,
        predictions: Predictions,
        output: impl Into<Arc<OutputKind>>,
    ) -> Self {
        Self {
            model: name.into(),
            version,
            id: None,
            predictions,
            output: output.into(),
        }
    }

    /// Echoes a request id.
    #[must_use]
    pub fn with_id(mut self, id: Option<String>) -> Self {
        self.id = id;
        self
    }

    /// The label predicted for row `i` (classifiers).
    #[must_use]
    pub fn label(&self, i: usize) -> Option<&str> {
        self.predictions.label(i, &self.output)
    }

    /// Row `i` as an owned [`Prediction`].
    #[must_use]
    pub fn get(&self, i: usize) -> Option<Prediction> {
        self.predictions.get(i, &self.output)
    }

    /// Number of rows predicted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.predictions.len()
    }

    /// Whether no rows were predicted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.predictions.is_empty()
    }
}

/// Fails with [`Error::VersionNotHeld`].
pub(crate) fn version_not_held(name: &str, version: u64, held: Vec<u64>) -> Error {
    Error::VersionNotHeld {
        model: name.to_owned(),
        version,
        held,
    }
}
