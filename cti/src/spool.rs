//! The call-record spool: the database is off the call path.
//!
//! The call-event task never writes to the database. It appends what the
//! store must get (a call's arrival, its steps, audit rows) to local files,
//! fsynced once per batch, and goes on; one writer task reads the files in
//! order and applies them to the store in transactions that also record how
//! far it got (`spool_positions`). A database that is down for minutes
//! stalls no call and loses nothing: the writer retries until it answers,
//! and a crash replays, at the next start, whatever the store had not
//! committed, each record once.
//!
//! On disk: a directory (`[cti] spool`) holding `id` (this spool's name in
//! `spool_positions`), `lock` (one engine per spool) and segments named by
//! their first record's sequence number, `00000000000000000001.spool`, one
//! JSON record per line (`{"seq":…,"w":{…}}`). A segment is removed once
//! every record in it is in the store; the appender starts a new one at
//! each start and past [`SEGMENT_BYTES`]. A line cut off by a crash (no
//! newline) is skipped and logged: it was never acknowledged.
//!
//! With no directory ([`Cti::with_store`](crate::Cti::with_store), the
//! crate's tests) the spool is a queue in memory: the same writer, no
//! durability.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write as _};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::store::Write;

/// A segment past this size is closed and a new one started.
pub(crate) const SEGMENT_BYTES: u64 = 8 << 20;
/// Most bytes read from a segment at once.
const READ_CHUNK: usize = 4 << 20;

/// One line of a segment.
#[derive(Serialize, Deserialize)]
struct Record {
    seq: u64,
    w: Write,
}

type Queue = Arc<Mutex<VecDeque<(u64, Write)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A spool just opened: its name, the last record on disk, and the two ends.
pub(crate) struct Opened {
    /// The name of this spool in `spool_positions`.
    pub id: String,
    pub appender: Appender,
    pub reader: Reader,
}

/// A spool in memory: the same writer, no durability (the crate's tests).
pub(crate) fn memory() -> Opened {
    let queue: Queue = Arc::default();
    Opened {
        id: "memory".to_owned(),
        appender: Appender {
            next_seq: 1,
            sink: Sink::Memory(Arc::clone(&queue)),
        },
        reader: Reader {
            applied: 0,
            source: Source::Memory(queue),
        },
    }
}

/// Opens (making it if need be) the spool directory `dir`. `applied` says
/// how far the store has this spool, by its id. Returns the spool and the
/// last record written before this start.
pub(crate) async fn open<F, Fut>(dir: &Path, applied: F) -> crate::Result<(Opened, u64)>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = crate::Result<u64>>,
{
    let dir = dir.to_path_buf();
    let (id, lock_file, last_on_disk) = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || prepare(&dir))
            .await
            .map_err(|e| io::Error::other(e.to_string()))??
    };
    let applied = applied(id.clone()).await?;
    let next_seq = applied.max(last_on_disk) + 1;
    let file = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || new_segment(&dir, next_seq))
            .await
            .map_err(|e| io::Error::other(e.to_string()))??
    };
    Ok((
        Opened {
            id,
            appender: Appender {
                next_seq,
                sink: Sink::Files {
                    dir: dir.clone(),
                    file,
                    bytes: 0,
                    limit: SEGMENT_BYTES,
                    _lock: lock_file,
                },
            },
            reader: Reader {
                applied,
                source: Source::Files { dir, current: None },
            },
        },
        next_seq - 1,
    ))
}

/// Makes the directory (owner only: it holds callers' numbers), takes its
/// lock, reads or makes its id, and finds the last record written.
fn prepare(dir: &Path) -> io::Result<(String, File, u64)> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let lock_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join("lock"))?;
    if lock_file.try_lock().is_err() {
        return Err(io::Error::other(format!(
            "the spool {} is in use by another engine (its lock is held)",
            dir.display()
        )));
    }
    let id_path = dir.join("id");
    let id = match std::fs::read_to_string(&id_path) {
        Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
        _ => {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
            let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_synced(&id_path, id.as_bytes())?;
            sync_dir(dir)?;
            id
        }
    };
    let mut last = 0;
    for first in segments(dir)?.into_iter().rev() {
        let mut text = Vec::new();
        File::open(segment_path(dir, first))?.read_to_end(&mut text)?;
        let end = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let found = text[..end]
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<Record>(line).ok())
            .map(|r| r.seq)
            .max();
        if let Some(seq) = found {
            last = seq;
            break;
        }
    }
    Ok((id, lock_file, last))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.spool"))
}

/// The segments in `dir`, by their first sequence number, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut found: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.strip_suffix(".spool")?.parse().ok()
        })
        .collect();
    found.sort_unstable();
    Ok(found)
}

fn new_segment(dir: &Path, first: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(segment_path(dir, first))?;
    sync_dir(dir)?;
    Ok(file)
}

/// The call-event task's end: appends writes, numbering them.
pub(crate) struct Appender {
    next_seq: u64,
    sink: Sink,
}

enum Sink {
    Memory(Queue),
    Files {
        dir: PathBuf,
        file: File,
        bytes: u64,
        /// Past this size a new segment is started ([`SEGMENT_BYTES`]).
        limit: u64,
        _lock: File,
    },
}

impl Appender {
    /// The sequence number of the last write appended.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Appends `writes` in order and makes them durable (one fsync). On an
    /// error nothing of them is kept on disk, and `writes` is left as it
    /// was for the next try. Blocking.
    pub fn append(&mut self, writes: &mut Vec<Write>) -> io::Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            Sink::Memory(queue) => {
                let mut queue = lock(queue);
                for w in writes.drain(..) {
                    queue.push_back((self.next_seq, w));
                    self.next_seq += 1;
                }
                Ok(())
            }
            Sink::Files {
                dir,
                file,
                bytes,
                limit,
                ..
            } => {
                let mut buf = Vec::with_capacity(writes.len() * 256);
                let mut seq = self.next_seq;
                for w in writes.iter() {
                    // A record is plain data: it always serialises.
                    let record = serde_json::to_vec(&RecordRef { seq, w })
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    buf.extend_from_slice(&record);
                    buf.push(b'\n');
                    seq += 1;
                }
                let written = file.write_all(&buf).and_then(|()| file.sync_data());
                if let Err(e) = written {
                    // Take back a partial line so the next try starts clean.
                    let _ = file.set_len(*bytes);
                    return Err(e);
                }
                *bytes += buf.len() as u64;
                self.next_seq = seq;
                writes.clear();
                if *bytes >= *limit {
                    *file = new_segment(dir, self.next_seq)?;
                    *bytes = 0;
                }
                Ok(())
            }
        }
    }
}

/// [`Record`] borrowing its write, for appending.
#[derive(Serialize)]
struct RecordRef<'a> {
    seq: u64,
    w: &'a Write,
}

/// The writer task's end: reads the records not yet in the store, in order.
pub(crate) struct Reader {
    /// The last record the store has.
    applied: u64,
    source: Source,
}

enum Source {
    Memory(Queue),
    Files {
        dir: PathBuf,
        /// The segment being read (its first sequence number) and how far.
        current: Option<(u64, u64)>,
    },
}

/// What one read found besides records.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadNotes {
    /// Lines that were not records (cut off by a crash, or damaged).
    pub damaged: usize,
}

impl Reader {
    /// Up to `max` records after the last applied, in order; none when the
    /// appender has written nothing more. Records read are not read again:
    /// the caller keeps them until the store has them. Blocking.
    pub fn next(&mut self, max: usize) -> io::Result<(Vec<(u64, Write)>, ReadNotes)> {
        let mut notes = ReadNotes::default();
        let applied = self.applied;
        match &mut self.source {
            Source::Memory(queue) => {
                let mut queue = lock(queue);
                let n = queue.len().min(max);
                let out: Vec<_> = queue.drain(..n).filter(|(s, _)| *s > applied).collect();
                Ok((out, notes))
            }
            Source::Files { dir, current } => loop {
                let (first, offset) = match *current {
                    Some(c) => c,
                    None => match segments(dir)?.first() {
                        Some(&first) => (first, 0),
                        None => return Ok((Vec::new(), notes)),
                    },
                };
                *current = Some((first, offset));
                let out = read_lines(dir, current, max, applied, &mut notes)?;
                if !out.is_empty() {
                    return Ok((out, notes));
                }
                let Some(&later) = segments(dir)?.iter().find(|&&s| s > first) else {
                    return Ok((Vec::new(), notes));
                };
                // The appender has moved on, so it finished this segment
                // before: one more read sees all of it.
                let out = read_lines(dir, current, max, applied, &mut notes)?;
                if !out.is_empty() {
                    return Ok((out, notes));
                }
                let path = segment_path(dir, first);
                let (_, read_to) = current.unwrap_or((first, 0));
                let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                if len > read_to {
                    // A last line with no newline: cut off by a crash.
                    notes.damaged += 1;
                }
                // Everything read from it before this call is in the store.
                std::fs::remove_file(&path)?;
                *current = Some((later, 0));
            },
        }
    }

    /// The last record the store has.
    pub fn applied_seq(&self) -> u64 {
        self.applied
    }

    /// The store has every record up to `seq` (set after a commit, and
    /// after reading the store's position again when a commit's outcome
    /// is unknown).
    pub fn applied(&mut self, seq: u64) {
        self.applied = self.applied.max(seq);
    }
}

/// Reads whole lines of the current segment from its offset, advancing it,
/// until it has records or reaches the end.
fn read_lines(
    dir: &Path,
    current: &mut Option<(u64, u64)>,
    max: usize,
    applied: u64,
    notes: &mut ReadNotes,
) -> io::Result<Vec<(u64, Write)>> {
    let Some((first, mut offset)) = *current else {
        return Ok(Vec::new());
    };
    let mut file = match File::open(segment_path(dir, first)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    loop {
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        (&mut file).take(READ_CHUNK as u64).read_to_end(&mut buf)?;
        let mut consumed = 0usize;
        while out.len() < max {
            let Some(nl) = buf[consumed..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = &buf[consumed..consumed + nl];
            consumed += nl + 1;
            match serde_json::from_slice::<Record>(line) {
                Ok(r) if r.seq > applied => out.push((r.seq, r.w)),
                Ok(_) => {}
                Err(error) => {
                    notes.damaged += 1;
                    tracing::error!(%error, segment = first, offset = offset + consumed as u64, "a spool line is not a record: skipped");
                }
            }
        }
        offset += consumed as u64;
        *current = Some((first, offset));
        // Stop with records, at the end, or at a line longer than a chunk.
        if !out.is_empty() || buf.len() < READ_CHUNK || consumed == 0 {
            return Ok(out);
        }
    }
}

/// Who waits for the store to have what was sent before them
/// ([`CallEvents::flush`](crate::CallEvents::flush)).
#[derive(Default)]
pub(crate) struct Flushes {
    inner: Mutex<FlushState>,
}

#[derive(Default)]
struct FlushState {
    applied: u64,
    waiting: Vec<(u64, oneshot::Sender<()>)>,
}

impl Flushes {
    pub fn new(applied: u64) -> Flushes {
        Flushes {
            inner: Mutex::new(FlushState {
                applied,
                waiting: Vec::new(),
            }),
        }
    }

    /// `done` is answered once the store has every record up to `seq`.
    pub fn wait(&self, seq: u64, done: oneshot::Sender<()>) {
        let mut s = lock(&self.inner);
        if seq <= s.applied {
            let _ = done.send(());
        } else {
            s.waiting.push((seq, done));
        }
    }

    /// The store has every record up to `seq`.
    pub fn applied(&self, seq: u64) {
        let mut s = lock(&self.inner);
        s.applied = s.applied.max(seq);
        let applied = s.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) =
            s.waiting.drain(..).partition(|(at, _)| *at <= applied);
        s.waiting = waiting;
        for (_, done) in ready {
            let _ = done.send(());
        }
    }
}

/// Records applied to the store in one transaction at most.
const WRITE_BATCH: usize = 512;
/// Waits between tries while the database does not answer.
const RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(250);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// What the writer task needs besides the shared state.
pub(crate) struct Writer {
    pub id: String,
    pub reader: Reader,
    /// The last record written before this start: until the store has it,
    /// no later one is applied, and then the calls the last run left open
    /// are closed as interrupted.
    pub boot_seq: u64,
    pub flushes: Arc<Flushes>,
    /// Nudged by the call-event task after each append; closed when it ends.
    pub wake: tokio::sync::mpsc::Receiver<()>,
    /// Set once the last run's records are in the store and its unfinished
    /// calls closed.
    pub recovered: tokio::sync::watch::Sender<bool>,
    /// Whether to close the last run's unfinished calls (not for a spool
    /// in memory, which has no last run).
    pub recover: bool,
}

/// The spool writer: applies the spool to the store in order, each record
/// once, retrying while the database does not answer. Ends when the
/// call-event task has ended and everything it spooled is in the store.
pub(crate) async fn write_to_store(shared: Arc<crate::Shared>, mut w: Writer) {
    let store = &shared.store;
    let mut pending: VecDeque<(u64, Write)> = VecDeque::new();
    let mut recovering = w.recover;
    if !recovering {
        w.recovered.send_replace(true);
    }
    let mut closed = false;
    let mut retry = RETRY_MIN;
    let mut down_since: Option<std::time::Instant> = None;
    let mut reader = Some(w.reader);
    loop {
        if pending.is_empty() {
            let Some(mut r) = reader.take() else { return };
            let joined = tokio::task::spawn_blocking(move || {
                let found = r.next(WRITE_BATCH);
                (r, found)
            })
            .await;
            let (r, found) = match joined {
                Ok(read) => read,
                // The runtime is shutting down: what was not applied yet
                // stays in the spool, and the next start applies it.
                Err(error) if error.is_cancelled() => {
                    tracing::debug!("the spool reader stopped with the runtime");
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, "the spool reader stopped");
                    return;
                }
            };
            reader = Some(r);
            match found {
                Ok((records, notes)) => {
                    pending.extend(records);
                    if notes.damaged > 0 {
                        shared.status.count_store_error();
                        tracing::warn!(
                            lines = notes.damaged,
                            "spool lines that are not whole records skipped (cut off by a crash)"
                        );
                    }
                }
                Err(error) => {
                    shared.status.count_store_error();
                    tracing::error!(%error, "the spool cannot be read: tried again");
                    tokio::time::sleep(RETRY_MAX).await;
                    continue;
                }
            }
        }
        if recovering && pending.front().is_none_or(|(seq, _)| *seq > w.boot_seq) {
            // The last run's records are all in the store: what it left
            // open was cut off.
            match store.close_interrupted().await {
                Ok(closed) => {
                    if !closed.is_empty() {
                        tracing::warn!(count = closed.len(), calls = ?closed, "calls cut off by the last stop closed as interrupted");
                    }
                    recovering = false;
                    w.recovered.send_replace(true);
                }
                Err(error) => {
                    tracing::error!(%error, "cannot close the calls the last stop cut off: tried again");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                    continue;
                }
            }
        }
        if pending.is_empty() {
            if closed {
                return;
            }
            tokio::select! {
                woken = w.wake.recv() => closed = woken.is_none(),
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            continue;
        }
        let take = pending
            .iter()
            .take(WRITE_BATCH)
            .take_while(|(seq, _)| !recovering || *seq <= w.boot_seq)
            .count();
        match apply(&shared, &w.id, pending.range(..take)).await {
            Ok(last) => {
                pending.drain(..take);
                if let Some(r) = reader.as_mut() {
                    r.applied(last);
                }
                w.flushes.applied(last);
                shared.status.set_applied(last);
                retry = RETRY_MIN;
                if let Some(since) = down_since.take() {
                    store.set_available(true);
                    tracing::warn!(
                        down_s = since.elapsed().as_secs(),
                        "the database answers again: the spooled call records are going in"
                    );
                }
            }
            Err(error) => {
                shared.status.count_store_error();
                if down_since.is_none() {
                    down_since = Some(std::time::Instant::now());
                    store.set_available(false);
                    tracing::error!(%error, "the database does not answer: call records wait in the spool, calls go on");
                }
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
                // The commit may have happened all the same: the store
                // says how far it got.
                if let Ok(seq) = store.spool_position(&w.id).await {
                    pending.retain(|(s, _)| *s > seq);
                    if let Some(r) = reader.as_mut() {
                        r.applied(seq);
                    }
                    w.flushes.applied(seq);
                    shared.status.set_applied(seq);
                }
            }
        }
    }
}

/// Applies records in one transaction with the new position. A record the
/// store refuses (a bug, never the database being away) is logged, counted
/// and skipped; a database that does not answer fails the whole batch.
async fn apply<'a>(
    shared: &crate::Shared,
    id: &str,
    batch: impl Iterator<Item = &'a (u64, Write)>,
) -> crate::Result<u64> {
    let store = &shared.store;
    let mut tx = store.begin_write().await?;
    let mut last = 0;
    for (seq, write) in batch {
        last = *seq;
        if let Err(error) = store.apply(&mut tx, write).await {
            if unavailable(&error) {
                return Err(error);
            }
            shared.status.count_store_error();
            let (kind, call_id) = write.describe();
            tracing::error!(%error, seq, kind, call_id, "the store refused a call record write: skipped");
        }
    }
    store.set_spool_position(&mut tx, id, last).await?;
    tx.commit().await?;
    Ok(last)
}

/// Whether an error means the database is away (or busy), not that it
/// refused what was asked.
fn unavailable(error: &crate::Error) -> bool {
    let crate::Error::Db(e) = error else {
        return false;
    };
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            // PostgreSQL: connection exceptions (08…), shut down or not
            // accepting connections (57P…). SQLite: busy, locked.
            code.starts_with("08")
                || code.starts_with("57P")
                || code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Caller, Disposition};
    use crate::store::CallStep;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("frontdoor-spool-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }

    fn step(n: i64) -> Write {
        Write::Step {
            call_id: format!("c{n}"),
            at_ms: n,
            step: CallStep::QueueStep {
                kind: "queued".into(),
                detail: "x".repeat(100),
            },
        }
    }

    async fn opened(dir: &Path, applied: u64) -> (Opened, u64) {
        open(dir, |_| async move { Ok(applied) }).await.unwrap()
    }

    fn read_all(reader: &mut Reader) -> Vec<u64> {
        let mut seqs = Vec::new();
        loop {
            let (records, _) = reader.next(7).unwrap();
            if records.is_empty() {
                return seqs;
            }
            let last = records.last().unwrap().0;
            seqs.extend(records.iter().map(|(s, _)| *s));
            reader.applied(last);
        }
    }

    #[tokio::test]
    async fn records_come_back_in_order_across_segments_and_each_once() {
        let d = dir("order");
        let (mut o, boot) = opened(&d.0, 0).await;
        assert_eq!(boot, 0);
        if let Sink::Files { limit, .. } = &mut o.appender.sink {
            *limit = 1000;
        }
        let arrived = Write::Arrived {
            call_id: "c0".into(),
            caller: Caller::Number("+16135550100".into()),
            dialled: "211".into(),
            at_ms: 1,
        };
        let mut writes = vec![arrived.clone()];
        writes.extend((1..=40).map(step));
        writes.push(Write::Step {
            call_id: "c0".into(),
            at_ms: 2,
            step: CallStep::Ended {
                disposition: Disposition::Answered,
            },
        });
        // One batch per append, as the call-event task does; a segment is
        // closed after the batch that fills it.
        for batch in writes.chunks(3) {
            let mut batch = batch.to_vec();
            o.appender.append(&mut batch).unwrap();
            assert!(batch.is_empty());
        }
        assert_eq!(o.appender.last_seq(), 42);
        assert!(segments(&d.0).unwrap().len() > 3, "small segments rotate");
        let (first, _) = o.reader.next(1).unwrap();
        assert_eq!(first, vec![(1, arrived)], "the write comes back as written");
        o.reader.applied(1);
        assert_eq!(read_all(&mut o.reader), (2..=42).collect::<Vec<_>>());
        // Read segments are gone but the one being written.
        assert_eq!(segments(&d.0).unwrap().len(), 1);
        let mut more = vec![step(43)];
        o.appender.append(&mut more).unwrap();
        assert_eq!(read_all(&mut o.reader), vec![43]);
    }

    #[tokio::test]
    async fn a_restart_replays_what_the_store_does_not_have_and_skips_a_cut_off_line() {
        let d = dir("replay");
        {
            let (mut o, _) = opened(&d.0, 0).await;
            o.appender
                .append(&mut (1..=10).map(step).collect())
                .unwrap();
        }
        // A crash in the middle of a write: half a line, no newline.
        let last = *segments(&d.0).unwrap().last().unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(segment_path(&d.0, last))
            .unwrap();
        f.write_all(br#"{"seq":11,"w":{"type":"st"#).unwrap();
        drop(f);
        // The store had the first 6.
        let (mut o, boot) = opened(&d.0, 6).await;
        assert_eq!(boot, 10, "the last whole record written before the start");
        o.appender.append(&mut vec![step(11)]).unwrap();
        assert_eq!(
            o.appender.last_seq(),
            11,
            "numbering goes on after the last record"
        );
        let mut damaged = 0;
        let mut seqs = Vec::new();
        loop {
            let (records, notes) = o.reader.next(100).unwrap();
            damaged += notes.damaged;
            if records.is_empty() {
                break;
            }
            o.reader.applied(records.last().unwrap().0);
            seqs.extend(records.iter().map(|(s, _)| *s));
        }
        assert_eq!(seqs, vec![7, 8, 9, 10, 11]);
        assert_eq!(damaged, 1, "the cut-off line is counted");
    }

    #[tokio::test]
    async fn a_store_ahead_of_the_files_numbers_from_the_store() {
        let d = dir("ahead");
        let (o, boot) = opened(&d.0, 500).await;
        assert_eq!((boot, o.appender.last_seq()), (500, 500));
    }

    #[tokio::test]
    async fn one_engine_per_spool() {
        let d = dir("lock");
        let _first = opened(&d.0, 0).await;
        let second = open(&d.0, |_| async { Ok(0) }).await;
        let Err(error) = second else {
            panic!("a second engine opened the same spool")
        };
        assert!(error.to_string().contains("in use"), "{error}");
    }

    #[tokio::test]
    async fn the_spool_is_its_owners_only() {
        let d = dir("mode");
        let (mut o, _) = opened(&d.0, 0).await;
        o.appender.append(&mut vec![step(1)]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d.0), 0o700);
        let seg = segment_path(&d.0, segments(&d.0).unwrap()[0]);
        assert_eq!(mode(&seg), 0o600);
    }

    #[test]
    fn flushes_are_answered_once_the_store_has_their_records() {
        let f = Flushes::new(3);
        let (early, mut early_rx) = oneshot::channel();
        f.wait(2, early);
        assert!(early_rx.try_recv().is_ok(), "already in the store");
        let (late, mut late_rx) = oneshot::channel();
        f.wait(9, late);
        f.applied(8);
        assert!(late_rx.try_recv().is_err());
        f.applied(9);
        assert!(late_rx.try_recv().is_ok());
    }
}
