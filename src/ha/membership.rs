//! The etcd side of high availability (feature `ha`): the lease and its
//! renewals, the member key, and the owner keys of the accounts.
//!
//! Owns a session per lease: connect, grant a lease of `lease_ttl`, register
//! `PREFIX/members/<id>` under it, renew it every ttl/5 on one keep-alive
//! stream; every poll tick (ttl/10, at most 1 s) read members and owners,
//! apply the settle rule, and for each account of the config compare the
//! rendezvous owner with the keys: acquire a free key that is ours by a
//! create-if-absent transaction bound to the lease, and hand over one that
//! is no longer ours by stopping its loop (at a safe point), waiting for the
//! loop's task to end, then deleting the key in a transaction that checks the
//! key is still under our lease. Without a confirmed renewal for ttl/2 the
//! fence refuses every write and every loop is stopped; after ttl the
//! session is over (etcd has dropped the keys) and a new one starts.
//!
//! Must never: delete a key that is not under its own lease, start a loop
//! while an earlier loop of the account may still run, or let an etcd call
//! wait without a time-out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, PutOptions,
    TlsOptions, Txn, TxnOp,
};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::rendezvous;
use super::settle::Settle;
use super::{Command, HaError, Health, Shared, ToEtcd, lock};
use crate::config::Ha;

/// Everything a session needs, read once at start.
pub(super) struct Options {
    endpoints: Vec<String>,
    prefix: String,
    ttl: Duration,
    settle: Duration,
    connect: ConnectOptions,
    /// `ha.etcd.auth.user`, to name in an authentication error.
    user: Option<String>,
    tls: bool,
}

impl Options {
    /// From the checked config; reads the password and the TLS files now.
    pub(super) fn from_config(ha: &Ha) -> Result<Self, HaError> {
        let e = &ha.etcd;
        let ttl = e.lease_ttl;
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(op_timeout(ttl))
            // HTTP/2 pings find a dead connection (a cut network, a stopped
            // etcd) within about a renewal interval.
            .with_keep_alive(renew_interval(ttl), op_timeout(ttl))
            .with_keep_alive_while_idle(true);
        if let Some(auth) = &e.auth {
            let password = auth.password.read().map_err(|source| HaError::Secret {
                what: "password",
                source,
            })?;
            connect = connect.with_user(auth.user.clone(), password.expose_secret().to_string());
        }
        if let Some(tls) = &e.tls {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|source| HaError::File {
                    path: path.to_path_buf(),
                    source,
                })
            };
            let mut t = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
            if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
                let key = key.read().map_err(|source| HaError::Secret {
                    what: "tls key",
                    source,
                })?;
                t = t.identity(Identity::from_pem(
                    read(cert)?,
                    key.expose_secret().as_bytes(),
                ));
            }
            if let Some(name) = &tls.server_name {
                t = t.domain_name(name.clone());
            }
            connect = connect.with_tls(t);
        }
        Ok(Self {
            endpoints: e.endpoints.clone(),
            prefix: e.prefix.clone(),
            ttl,
            settle: e.settle,
            connect,
            user: e.auth.as_ref().map(|a| a.user.clone()),
            tls: e.tls.is_some(),
        })
    }

    /// An error of connecting (or of the first calls), with the config key
    /// to look at when etcd refused the credentials or the TLS handshake
    /// failed. Never holds the password: etcd's answer does not either.
    fn explain(&self, why: String) -> String {
        let t = why.to_ascii_lowercase();
        let auth = t.contains("authentication failed")
            || t.contains("invalid user id or password")
            || t.contains("unauthenticated")
            || t.contains("user name is empty");
        let denied = t.contains("permission denied") || t.contains("permissiondenied");
        match (&self.user, auth, denied) {
            (Some(user), true, _) => format!(
                "etcd refused the user {user} and the password of ha.etcd.auth.password: {why}"
            ),
            (None, true, _) => {
                format!("etcd requires a user and password (ha.etcd.auth is not set): {why}")
            }
            (user, false, true) => format!(
                "etcd user {} may not read and write {} (grant it readwrite on the prefix): {why}",
                user.as_deref().unwrap_or("(none, ha.etcd.auth is not set)"),
                self.prefix
            ),
            _ if self.tls
                && (t.contains("certificate") || t.contains("tls") || t.contains("handshake")) =>
            {
                format!(
                    "tls with etcd failed (check ha.etcd.tls.ca and ha.etcd.tls.server_name): {why}"
                )
            }
            _ => why,
        }
    }

    fn members(&self) -> String {
        format!("{}members/", self.prefix)
    }

    fn owners(&self) -> String {
        format!("{}owners/", self.prefix)
    }
}

/// The longest any one etcd call may take.
fn op_timeout(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(500), Duration::from_secs(5))
}

/// How often the lease is renewed: five tries before writes stop at ttl/2.
fn renew_interval(ttl: Duration) -> Duration {
    (ttl / 10).max(Duration::from_millis(200))
}

/// How often members and owners are read.
fn poll_interval(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
}

/// An etcd call with a time-out, its error as text.
async fn bounded<T>(
    ttl: Duration,
    call: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(op_timeout(ttl), call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err(format!(
            "no answer within {} ms",
            op_timeout(ttl).as_millis()
        )),
    }
}

/// An etcd error in one lower-case line.
fn describe(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            format!("etcd said {:?}: {}", s.code(), s.message())
        }
        other => other.to_string(),
    }
}

/// Who holds each account's owner key, read once (`snapkeeper status`).
pub(super) async fn read_owners(ha: &Ha) -> Result<BTreeMap<String, String>, HaError> {
    let opts = Options::from_config(ha)?;
    let fail = |why: String| HaError::Etcd {
        endpoints: opts.endpoints.join(", "),
        prefix: opts.prefix.clone(),
        why: opts.explain(why),
    };
    let mut client = bounded(
        opts.ttl,
        Client::connect(opts.endpoints.clone(), Some(opts.connect.clone())),
    )
    .await
    .map_err(&fail)?;
    let prefix = opts.owners();
    let got = bounded(
        opts.ttl,
        client.get(prefix.clone(), Some(GetOptions::new().with_prefix())),
    )
    .await
    .map_err(&fail)?;
    Ok(got
        .kvs()
        .iter()
        .filter_map(|kv| {
            let account = kv.key_str().ok()?.strip_prefix(&prefix)?.to_string();
            Some((account, kv.value_str().unwrap_or("?").to_string()))
        })
        .collect())
}

/// Why a session ended.
enum End {
    Shutdown,
    LeaseLost(String),
}

/// Run the etcd side until the daemon shuts down.
pub(super) async fn run(
    opts: Options,
    shared: Arc<Shared>,
    mut from_sup: mpsc::UnboundedReceiver<ToEtcd>,
    to_sup: mpsc::UnboundedSender<Command>,
) {
    let replica = shared.replica.clone();
    let mut delay = Duration::from_millis(200);
    let mut last_error: Option<String> = None;
    loop {
        match Session::open(&opts, &shared).await {
            Ok(mut s) => {
                info!(replica = %replica, lease = s.lease, members_key = %format!("{}{replica}", opts.members()), "joined the replicas in etcd");
                last_error = None;
                delay = Duration::from_millis(200);
                match s.run(&mut from_sup, &to_sup).await {
                    End::Shutdown => return,
                    End::LeaseLost(why) => {
                        warn!(replica = %replica, why = %why, "etcd lease lost: every account was stopped; joining again");
                        *lock(&shared.health) = Health::Unreachable(why);
                    }
                }
            }
            Err(e) => {
                if last_error.as_deref() != Some(e.as_str()) {
                    error!(replica = %replica, error = %e, "etcd unreachable: this replica owns nothing and writes nothing until it holds a lease");
                } else {
                    debug!(error = %e, "etcd still unreachable");
                }
                *lock(&shared.health) = Health::Unreachable(e.clone());
                last_error = Some(e);
                let wait = tokio::time::sleep(delay);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        msg = from_sup.recv() => match msg {
                            Some(ToEtcd::Accounts) => {}
                            Some(ToEtcd::Shutdown { done, .. }) => {
                                let _ = done.send(());
                                return;
                            }
                            None => return,
                        },
                    }
                }
                delay = (delay * 2).min(renew_interval(opts.ttl).max(Duration::from_secs(2)));
            }
        }
    }
}

/// What this replica does with an account whose key it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its loop runs (or was told to start).
    Active,
    /// Its loop was told to stop; the key goes once the loop has ended.
    Releasing,
    /// No loop runs; the key is still held.
    Idle,
}

/// One lease's life.
struct Session<'a> {
    opts: &'a Options,
    shared: &'a Arc<Shared>,
    client: Client,
    lease: i64,
    settle: Settle,
    phases: BTreeMap<String, Phase>,
    /// Why each account is being handed over (for the release's log line).
    why: BTreeMap<String, String>,
    released_tx: mpsc::UnboundedSender<String>,
    released_rx: mpsc::UnboundedReceiver<String>,
    gone_rx: oneshot::Receiver<String>,
    keepalive: tokio::task::JoinHandle<()>,
    fenced: bool,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.keepalive.abort();
        lock(&self.shared.held).clear();
        *lock(&self.shared.renewed) = None;
    }
}

impl<'a> Session<'a> {
    async fn open(opts: &'a Options, shared: &'a Arc<Shared>) -> Result<Session<'a>, String> {
        Self::open_as(opts, shared)
            .await
            .map_err(|e| opts.explain(e))
    }

    async fn open_as(opts: &'a Options, shared: &'a Arc<Shared>) -> Result<Session<'a>, String> {
        let ttl = opts.ttl;
        let mut client = bounded(
            ttl,
            Client::connect(opts.endpoints.clone(), Some(opts.connect.clone())),
        )
        .await?;
        let sent = Instant::now();
        let ttl_s = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let grant = bounded(ttl, client.lease_grant(ttl_s, None)).await?;
        let lease = grant.id();
        *lock(&shared.renewed) = Some(sent);
        let key = format!("{}{}", opts.members(), shared.replica);
        bounded(
            ttl,
            client.put(
                key,
                shared.replica.clone(),
                Some(PutOptions::new().with_lease(lease)),
            ),
        )
        .await?;
        let (gone_tx, gone_rx) = oneshot::channel();
        let keepalive = tokio::spawn(keep_alive(
            client.clone(),
            lease,
            ttl,
            shared.clone(),
            gone_tx,
        ));
        let (released_tx, released_rx) = mpsc::unbounded_channel();
        *lock(&shared.health) = Health::Ok { members: 0 };
        Ok(Session {
            opts,
            shared,
            client,
            lease,
            settle: Settle::new(opts.settle),
            phases: BTreeMap::new(),
            why: BTreeMap::new(),
            released_tx,
            released_rx,
            gone_rx,
            keepalive,
            fenced: false,
        })
    }

    fn me(&self) -> &str {
        &self.shared.replica
    }

    async fn run(
        &mut self,
        from_sup: &mut mpsc::UnboundedReceiver<ToEtcd>,
        to_sup: &mpsc::UnboundedSender<Command>,
    ) -> End {
        let mut tick = tokio::time::interval(poll_interval(self.opts.ttl));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                msg = from_sup.recv() => match msg {
                    Some(ToEtcd::Accounts) => {}
                    Some(ToEtcd::Shutdown { revoke, done }) => {
                        self.leave(revoke).await;
                        let _ = done.send(());
                        return End::Shutdown;
                    }
                    None => return End::Shutdown,
                },
                Some(account) = self.released_rx.recv() => {
                    if self.phases.get(&account) == Some(&Phase::Releasing) {
                        self.phases.insert(account, Phase::Idle);
                    }
                }
                why = &mut self.gone_rx => {
                    let why = why.unwrap_or_else(|_| "the keep-alive stopped".into());
                    self.drop_all(to_sup, &why);
                    return End::LeaseLost(why);
                }
            }
            if let Some(end) = self.step(to_sup).await {
                return end;
            }
        }
    }

    /// Stop every loop and forget every key (the lease is gone or going).
    fn drop_all(&mut self, to_sup: &mpsc::UnboundedSender<Command>, why: &str) {
        lock(&self.shared.held).clear();
        self.why.clear();
        for (account, phase) in std::mem::take(&mut self.phases) {
            warn!(replica = %self.me(), account = %account, why = %why, "ownership lost: the account's loop stops (if it still runs)");
            if phase == Phase::Active {
                let (ack, _) = oneshot::channel();
                let _ = to_sup.send(Command::Stop { account, ack });
            }
        }
    }

    async fn leave(&mut self, revoke: bool) {
        lock(&self.shared.held).clear();
        if revoke {
            match bounded(self.opts.ttl, self.client.lease_revoke(self.lease)).await {
                Ok(_) => {
                    info!(replica = %self.me(), "left the replicas: lease revoked, the accounts move at once")
                }
                Err(e) => {
                    warn!(replica = %self.me(), error = %e, "could not revoke the lease: the accounts move when it expires")
                }
            }
        } else {
            info!(replica = %self.me(), "left without revoking the lease (a loop may still run): the accounts move when it expires");
        }
    }

    /// One look at etcd and what follows from it.
    async fn step(&mut self, to_sup: &mpsc::UnboundedSender<Command>) -> Option<End> {
        let ttl = self.opts.ttl;
        let age = lock(&self.shared.renewed).map(|t| t.elapsed());
        match age {
            Some(a) if a < ttl / 2 => {
                if self.fenced {
                    self.fenced = false;
                    info!(replica = %self.me(), "etcd lease renewed again: owned accounts resume");
                }
            }
            Some(a) if a < ttl => {
                if !self.fenced {
                    self.fenced = true;
                    let why = format!(
                        "etcd lease not renewed for {} ms (half its time to live)",
                        a.as_millis()
                    );
                    error!(replica = %self.me(), why = %why, "etcd unreachable: no writes from this replica; stopping every account loop");
                    *lock(&self.shared.health) = Health::Unreachable(why.clone());
                    let active: Vec<String> = self
                        .phases
                        .iter()
                        .filter(|(_, p)| **p == Phase::Active)
                        .map(|(a, _)| a.clone())
                        .collect();
                    for account in active {
                        self.release(to_sup, account, &why);
                    }
                }
                return None;
            }
            _ => {
                let why = "etcd lease expired without a renewal".to_string();
                self.drop_all(to_sup, &why);
                return Some(End::LeaseLost(why));
            }
        }
        let members = bounded(
            ttl,
            self.client
                .get(self.opts.members(), Some(GetOptions::new().with_prefix())),
        )
        .await;
        let owners = bounded(
            ttl,
            self.client
                .get(self.opts.owners(), Some(GetOptions::new().with_prefix())),
        )
        .await;
        let (members, owners) = match (members, owners) {
            (Ok(m), Ok(o)) => (m, o),
            (Err(e), _) | (_, Err(e)) => {
                debug!(error = %e, "cannot read members and owners this tick");
                return None;
            }
        };
        let mprefix = self.opts.members();
        let live: BTreeSet<String> = members
            .kvs()
            .iter()
            .filter_map(|kv| {
                kv.key_str()
                    .ok()?
                    .strip_prefix(&mprefix)
                    .map(str::to_string)
            })
            .collect();
        if !live.contains(self.me()) {
            // Our member key went away under a live lease (deleted by
            // hand): put it back.
            let key = format!("{mprefix}{}", self.me());
            let put = self.client.put(
                key,
                self.me().to_string(),
                Some(PutOptions::new().with_lease(self.lease)),
            );
            if let Err(e) = bounded(ttl, put).await {
                debug!(error = %e, "cannot put the member key back");
            }
        }
        let change = self.settle.observe(&live, tokio::time::Instant::now());
        let effective: Vec<String> = self.settle.effective().iter().cloned().collect();
        if !change.is_empty() {
            info!(
                replica = %self.me(),
                joined = ?change.joined,
                left = ?change.left,
                members = ?effective,
                "replica membership changed"
            );
        }
        *lock(&self.shared.health) = Health::Ok {
            members: effective.len(),
        };
        let oprefix = self.opts.owners();
        let owners: BTreeMap<String, (i64, String)> = owners
            .kvs()
            .iter()
            .filter_map(|kv| {
                let account = kv.key_str().ok()?.strip_prefix(&oprefix)?.to_string();
                let holder = kv.value_str().unwrap_or("?").to_string();
                Some((account, (kv.lease(), holder)))
            })
            .collect();
        // Keys we think we hold but etcd says otherwise: lost.
        let lost: Vec<(String, String)> = self
            .phases
            .keys()
            .filter_map(|a| match owners.get(a) {
                None => Some((
                    a.clone(),
                    "the owner key is gone from etcd (deleted by hand, or its lease expired)"
                        .to_string(),
                )),
                Some((l, holder)) if *l != self.lease => Some((
                    a.clone(),
                    format!("the owner key is held by replica {holder} under lease {l}"),
                )),
                Some(_) => None,
            })
            .collect();
        for (account, why) in lost {
            lock(&self.shared.held).remove(&account);
            if self.phases.remove(&account) == Some(Phase::Active) {
                let (ack, _) = oneshot::channel();
                let _ = to_sup.send(Command::Stop {
                    account: account.clone(),
                    ack,
                });
            }
            warn!(replica = %self.me(), account = %account, why = %why, "ownership lost: the owner key is gone or under another lease");
        }
        self.prune_stopped();
        let accounts: BTreeSet<String> = lock(&self.shared.accounts).iter().cloned().collect();
        let all: BTreeSet<String> = accounts.iter().chain(self.phases.keys()).cloned().collect();
        for account in all {
            let owner = rendezvous::owner(&account, effective.iter().map(String::as_str));
            let want = accounts.contains(&account) && owner == Some(self.me());
            match (self.phases.get(&account).copied(), want) {
                (None, true) if !owners.contains_key(&account) => {
                    if self.loop_still_running(&account) {
                        continue;
                    }
                    self.acquire(to_sup, &account, effective.len()).await;
                }
                (None, true) => {
                    debug!(account = %account, holder = %owners.get(&account).map(|o| o.1.as_str()).unwrap_or("?"), "ours by the rendezvous, still held by another replica");
                }
                (Some(Phase::Active), false) => {
                    let why = match owner {
                        _ if !accounts.contains(&account) => {
                            "the account is no longer in the config".to_string()
                        }
                        Some(o) => format!(
                            "replica {o} is its rendezvous owner among {} members",
                            effective.len()
                        ),
                        None => "no member counts".to_string(),
                    };
                    self.release(to_sup, account, &why);
                }
                (Some(Phase::Idle), true) => {
                    if self.loop_still_running(&account) {
                        continue;
                    }
                    info!(replica = %self.me(), account = %account, why = %format!("rendezvous owner again among {} members, the key still held", effective.len()), "owner again: starting the account's loop");
                    self.phases.insert(account.clone(), Phase::Active);
                    self.why.remove(&account);
                    let _ = to_sup.send(Command::Start { account });
                }
                (Some(Phase::Idle), false) => self.delete_key(&account).await,
                (Some(Phase::Active | Phase::Releasing), _) | (None, false) => {}
            }
        }
        None
    }

    /// True while a stopped loop of `account` has not ended yet.
    fn loop_still_running(&self, account: &str) -> bool {
        lock(&self.shared.stopped)
            .get(account)
            .is_some_and(|v| v.iter().any(|h| !h.is_finished()))
    }

    fn prune_stopped(&self) {
        let mut stopped = lock(&self.shared.stopped);
        for tasks in stopped.values_mut() {
            tasks.retain(|h| !h.is_finished());
        }
        stopped.retain(|_, v| !v.is_empty());
    }

    async fn acquire(
        &mut self,
        to_sup: &mpsc::UnboundedSender<Command>,
        account: &str,
        members: usize,
    ) {
        let key = format!("{}{account}", self.opts.owners());
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key,
                self.me().to_string(),
                Some(PutOptions::new().with_lease(self.lease)),
            )]);
        match bounded(self.opts.ttl, self.client.txn(txn)).await {
            Ok(r) if r.succeeded() => {
                let rev = r.header().map_or(0, etcd_client::ResponseHeader::revision);
                lock(&self.shared.held).insert(account.to_string(), rev);
                self.phases.insert(account.to_string(), Phase::Active);
                info!(
                    replica = %self.me(),
                    account = %account,
                    revision = rev,
                    why = %format!("rendezvous owner among {members} members, key was free"),
                    "ownership acquired: starting the account's loop"
                );
                let _ = to_sup.send(Command::Start {
                    account: account.to_string(),
                });
            }
            Ok(_) => debug!(account = %account, "the owner key was taken first"),
            Err(e) => debug!(account = %account, error = %e, "cannot take the owner key this tick"),
        }
    }

    /// Stop the account's loop; its key goes once the loop has ended.
    fn release(&mut self, to_sup: &mpsc::UnboundedSender<Command>, account: String, why: &str) {
        info!(replica = %self.me(), account = %account, why = %why, "handing the account over: stopping its loop at the next safe point");
        self.phases.insert(account.clone(), Phase::Releasing);
        self.why.insert(account.clone(), why.to_string());
        let (ack, acked) = oneshot::channel();
        if to_sup
            .send(Command::Stop {
                account: account.clone(),
                ack,
            })
            .is_err()
        {
            return;
        }
        let shared = self.shared.clone();
        let done = self.released_tx.clone();
        tokio::spawn(async move {
            let _ = acked.await;
            loop {
                let task = lock(&shared.stopped).get_mut(&account).and_then(Vec::pop);
                match task {
                    Some(t) => {
                        let _ = t.await;
                    }
                    None => break,
                }
            }
            let _ = done.send(account);
        });
    }

    /// Give up the key of an account whose loop has ended.
    async fn delete_key(&mut self, account: &str) {
        let key = format!("{}{account}", self.opts.owners());
        // Forget it first: nothing may write from here on.
        lock(&self.shared.held).remove(account);
        let txn = Txn::new()
            .when([Compare::lease(key.clone(), CompareOp::Equal, self.lease)])
            .and_then([TxnOp::delete(key, None)]);
        match bounded(self.opts.ttl, self.client.txn(txn)).await {
            Ok(r) => {
                self.phases.remove(account);
                let why = self
                    .why
                    .remove(account)
                    .unwrap_or_else(|| "no longer its rendezvous owner".to_string());
                if r.succeeded() {
                    info!(replica = %self.me(), account = %account, why = %why, "ownership released: the owner key is free for the next owner");
                } else {
                    warn!(replica = %self.me(), account = %account, "the owner key was no longer ours when released");
                }
            }
            Err(e) => {
                // Held again (nothing runs): the next tick tries again.
                debug!(account = %account, error = %e, "cannot release the owner key this tick");
                lock(&self.shared.held).insert(account.to_string(), 0);
            }
        }
    }
}

/// Renew the lease every ttl/10 on one keep-alive stream (a new stream
/// after any error or silence). A renewal counts from the moment its
/// request was sent, once etcd has answered it with a time to live left.
/// Says on `gone` when etcd reports the lease expired.
async fn keep_alive(
    mut client: Client,
    lease: i64,
    ttl: Duration,
    shared: Arc<Shared>,
    gone: oneshot::Sender<String>,
) {
    let every = renew_interval(ttl);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stream: Option<(etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)> = None;
    loop {
        tick.tick().await;
        let sent = Instant::now();
        if let Some((keeper, _)) = stream.as_mut() {
            if let Err(e) = keeper.keep_alive().await {
                debug!(error = %e, "lease keep-alive send failed; reopening");
                stream = None;
                continue;
            }
        } else {
            // Opening the stream sends the first renewal and reads its
            // answer: a stream that opens is a confirmed renewal.
            match tokio::time::timeout(op_timeout(ttl), client.lease_keep_alive(lease)).await {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    *lock(&shared.renewed) = Some(sent);
                }
                Ok(Err(etcd_client::Error::LeaseKeepAliveError(e))) => {
                    let _ = gone.send(format!("etcd says the lease is gone: {e}"));
                    return;
                }
                Ok(Err(e)) => {
                    debug!(error = %describe(&e), "cannot open the lease keep-alive stream")
                }
                Err(_) => debug!("no answer to opening the lease keep-alive stream"),
            }
            continue;
        }
        let Some((_, messages)) = stream.as_mut() else {
            continue;
        };
        match tokio::time::timeout(op_timeout(ttl), messages.message()).await {
            Ok(Ok(Some(r))) if r.ttl() > 0 => {
                *lock(&shared.renewed) = Some(sent);
            }
            Ok(Ok(Some(_))) => {
                let _ = gone.send("etcd says the lease expired".into());
                return;
            }
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                debug!("no renewal answer; reopening the keep-alive stream");
                stream = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(user: Option<&str>, tls: bool) -> Options {
        Options {
            endpoints: vec!["https://127.0.0.1:2379".into()],
            prefix: "/snapkeeper/".into(),
            ttl: Duration::from_secs(15),
            settle: Duration::from_secs(5),
            connect: ConnectOptions::new(),
            user: user.map(str::to_string),
            tls,
        }
    }

    #[test]
    fn refusals_name_the_config_key() {
        // (user, tls, etcd's words, what the message must say)
        let cases = [
            (
                Some("snapkeeper"),
                false,
                "etcd said InvalidArgument: etcdserver: authentication failed, invalid user ID or password",
                "etcd refused the user snapkeeper and the password of ha.etcd.auth.password",
            ),
            (
                None,
                false,
                "etcd said InvalidArgument: etcdserver: user name is empty",
                "ha.etcd.auth is not set",
            ),
            (
                Some("snapkeeper"),
                false,
                "etcd said PermissionDenied: etcdserver: permission denied",
                "etcd user snapkeeper may not read and write /snapkeeper/",
            ),
            (
                None,
                true,
                "transport error: invalid peer certificate: UnknownIssuer",
                "check ha.etcd.tls.ca",
            ),
            (
                None,
                false,
                "no answer within 3750 ms",
                "no answer within 3750 ms",
            ),
        ];
        for (user, tls, said, want) in cases {
            let got = options(user, tls).explain(said.to_string());
            assert!(got.contains(want), "{said}: {got}");
            assert!(got.ends_with(said), "{said}: {got}");
        }
    }
}
