//! The sync point: where an appended line becomes durable.
//!
//! Every write of the journal goes through one [`SyncPoint`] before it is acknowledged. The
//! default, [`DataSync`], is `fdatasync(2)` on the journal file. Tests put their own in
//! front of it to count the syncs an append waited for (the page cache survives `kill -9`,
//! so only a count proves the sync happened) or to make a sync slow.

use std::fs::File;
use std::io;

/// Makes what was written to the journal so far durable.
pub trait SyncPoint: Send {
    /// Called after every write, before the write is acknowledged; an error fails the
    /// append and poisons the journal (its durable end is no longer known).
    fn sync(&mut self, file: &File) -> io::Result<()>;
}

/// The journal's default sync point: `fdatasync` on the file (its data and the metadata
/// needed to read it back, such as its length).
#[derive(Debug, Clone, Copy, Default)]
pub struct DataSync;

impl SyncPoint for DataSync {
    fn sync(&mut self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}

/// Any `FnMut(&File) -> io::Result<()>` is a sync point (tests wrap [`DataSync`] this way).
impl<F: FnMut(&File) -> io::Result<()> + Send> SyncPoint for F {
    fn sync(&mut self, file: &File) -> io::Result<()> {
        self(file)
    }
}
