//! [`InstallationClient`]: everything done for one installation, with the
//! engine and the installation's context travelling together.

use std::fmt;
use std::pin::Pin;

use futures::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use switchboard_core::paging::Continuation;
use switchboard_core::{
    Arguments, Error, ErrorKind, InstallationContext, InstallationId, PageStream, RecordStream,
    Response, Result,
};
use switchboard_installations::install::Installation;
use switchboard_installations::lifecycle::Installations;
use switchboard_installations::lifecycle::report::ConnectionReport;
use switchboard_sync::{SyncRun, Syncer};

/// A stream of records decoded as `T` (see [`InstallationClient::stream_as`]).
pub type TypedStream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;

/// One installation's client: call its connector's methods, stream and
/// page through listings, resume from a continuation, test the grant.
///
/// Made by [`Switchboard::installation`](crate::Switchboard::installation)
/// (or `installation_for`). It carries the endpoints of the installation's
/// own cloud: nothing here can send its token to another cloud's hosts.
/// Cheap to clone. A client made before the installation was disabled or
/// uninstalled keeps its credential: get a new client per job.
///
/// ```no_run
/// # async fn run(sb: switchboard::Switchboard, id: switchboard::InstallationId) -> switchboard::Result<()> {
/// use futures::TryStreamExt;
/// use switchboard::Arguments;
///
/// let client = sb.installation(id).await?;
/// let me = client.call("users.get_user", Arguments::new().set("id", "adele@contoso.com")).await?;
/// let mut users = client.stream("users.list_users", Arguments::new().set("top", 100));
/// while let Some(user) = users.try_next().await? {
///     println!("{}", user["displayName"]);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct InstallationClient {
    installations: Installations,
    syncer: Syncer,
    installation: Installation,
    context: InstallationContext,
}

impl fmt::Debug for InstallationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationClient")
            .field("installation", &self.installation.id)
            .field("connector", &self.installation.connector_id)
            .field("variant", &self.installation.variant)
            .field("context", &self.context)
            .finish()
    }
}

impl InstallationClient {
    pub(crate) fn new(
        installations: Installations,
        syncer: Syncer,
        installation: Installation,
        context: InstallationContext,
    ) -> Self {
        InstallationClient {
            installations,
            syncer,
            installation,
            context,
        }
    }

    /// The installation's id.
    pub fn id(&self) -> InstallationId {
        self.installation.id
    }

    /// The installation as it was read when the client was made.
    pub fn installation(&self) -> &Installation {
        &self.installation
    }

    /// The context the engine acts with (endpoints, settings, credential).
    pub fn context(&self) -> &InstallationContext {
        &self.context
    }

    /// Call a method once (the first page of a listing, or an action).
    pub async fn call(&self, method_id: &str, args: Arguments) -> Result<Response> {
        self.installations
            .engine()
            .call(&self.context, method_id, args)
            .await
    }

    /// Run many calls as JSON batches (for a connector that declares
    /// `batch`: Microsoft 365 sends 20 per request), one result per call
    /// in the order given; see [`switchboard_core::Engine::batch`].
    pub async fn batch(
        &self,
        calls: Vec<switchboard_core::engine::BatchCall>,
    ) -> Result<Vec<Result<Response>>> {
        self.installations
            .engine()
            .batch(&self.context, calls)
            .await
    }

    /// Call a method and decode its JSON body as `T`.
    ///
    /// A body that does not fit `T` is an [`ErrorKind::Decode`] error
    /// naming the method (an empty body decodes as JSON `null`).
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method_id: &str,
        args: Arguments,
    ) -> Result<T> {
        let value = self.call(method_id, args).await?.into_json()?;
        decode(method_id, value)
    }

    /// The records of a listing, across its pages.
    pub fn stream(&self, method_id: &str, args: Arguments) -> RecordStream {
        self.installations
            .engine()
            .stream(&self.context, method_id, args)
    }

    /// The records of a listing decoded as `T` (any `DeserializeOwned`
    /// type; a record that does not fit is an [`ErrorKind::Decode`] error
    /// and ends the stream).
    pub fn stream_as<T: DeserializeOwned + Send + 'static>(
        &self,
        method_id: &str,
        args: Arguments,
    ) -> TypedStream<T> {
        let method = method_id.to_string();
        Box::pin(self.stream(method_id, args).and_then(move |record| {
            let method = method.clone();
            async move { decode(&method, record) }
        }))
    }

    /// The pages of a listing, each with its continuation.
    pub fn pages(&self, method_id: &str, args: Arguments) -> PageStream {
        self.stream(method_id, args).into_pages()
    }

    /// Continue a listing or a delta sync from a stored continuation. A
    /// continuation of another installation is refused before anything is
    /// sent.
    pub fn resume(&self, continuation: &Continuation) -> RecordStream {
        self.installations
            .engine()
            .resume(&self.context, continuation)
    }

    /// Changes of a delta method since the last acknowledged page: pages of
    /// [`Change`](switchboard_sync::Change)s (`Upsert`, `Delete`, `Reset`),
    /// each page's checkpoint committed to the store (encrypted) when you
    /// [`ack`](SyncRun::ack) it. The first sync of `(method_id, args)`
    /// yields everything; a crash re-delivers at most the page not yet
    /// acknowledged. One node at a time per `(method_id, args)`: while
    /// another holds the lease this is an [`ErrorKind::Conflict`] error.
    /// An expired delta state starts a full round by itself, announced by
    /// `Change::Reset`. See docs/sync.md.
    ///
    /// ```no_run
    /// # async fn run(client: switchboard::InstallationClient) -> switchboard::Result<()> {
    /// use switchboard::{Arguments, Change};
    ///
    /// let args = Arguments::new().set("user_id", "adele@contoso.com").set("folder_id", "inbox");
    /// let mut run = client.sync("mail.messages_delta", args).await?;
    /// while let Some(page) = run.next_page().await? {
    ///     for change in page.changes() {
    ///         if let Change::Upsert(message) = change {
    ///             println!("{}", message["subject"]);
    ///         }
    ///     }
    ///     run.ack(page).await?;
    /// }
    /// run.finish().await?;
    /// # Ok(()) }
    /// ```
    pub async fn sync(&self, method_id: &str, args: Arguments) -> Result<SyncRun> {
        self.syncer
            .start(&self.context, method_id, args, false)
            .await
    }

    /// [`sync`](Self::sync) from scratch: the stored checkpoint is ignored
    /// (and replaced once the first page is acknowledged); the first change
    /// is `Change::Reset`.
    pub async fn resync(&self, method_id: &str, args: Arguments) -> Result<SyncRun> {
        self.syncer
            .start(&self.context, method_id, args, true)
            .await
    }

    /// One cheap read that proves the grant, in words an administrator can
    /// act on.
    pub async fn test(&self) -> Result<ConnectionReport> {
        self.installations
            .test_connection(self.installation.id)
            .await
    }

    /// The records of a listing gathered in memory, at most `limit` of them
    /// (a listing with more is an error rather than a silent cut).
    pub async fn collect(
        &self,
        method_id: &str,
        args: Arguments,
        limit: usize,
    ) -> Result<Vec<serde_json::Value>> {
        let mut records = Vec::new();
        let mut stream = self.stream(method_id, args);
        while let Some(record) = stream.next().await {
            if records.len() == limit {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("`{method_id}` has more than {limit} records; stream them instead"),
                )
                .with_field("limit"));
            }
            records.push(record?);
        }
        Ok(records)
    }
}

fn decode<T: DeserializeOwned>(method_id: &str, value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!(
                "a record of `{method_id}` does not fit {}: {}",
                std::any::type_name::<T>(),
                switchboard_core::untrusted_text::sanitize_message(&e.to_string())
            ),
        )
    })
}
