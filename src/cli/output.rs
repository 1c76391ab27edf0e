//! Files the command line writes where the user says (`report -o`, `baseline capture -o`,
//! `man --out-dir`, `--log`): the record is never written over.
//!
//! An output file never replaces a file the command reads (the journal being reported on),
//! a patchdeck journal (a window's record: resume, rollback and report need it), or a file
//! another process holds a lock on (a running window's journal is locked). Any other
//! existing file is replaced only with `--force`. Each refusal is exit 2 and says what is
//! there and what to do.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use eyre::WrapErr;

/// Why an output file was not written (exit 2: the command line asked for something unsafe).
#[derive(Debug, thiserror::Error)]
#[error("refusing to write {}: {why}", path.display())]
pub struct Refused {
    pub path: PathBuf,
    pub why: String,
}

/// What an output may write over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<'a> {
    /// `--force`: replace an existing ordinary file.
    pub force: bool,
    /// Files the command reads, each with what it is ("the journal being reported on"):
    /// never written over, whatever their content.
    pub inputs: &'a [(&'a Path, &'a str)],
}

/// Refuses now what [`write`] would refuse, before long work (a capture over ssh) whose
/// result would then have nowhere to go.
pub fn check(path: &Path, rules: Rules<'_>) -> eyre::Result<()> {
    match open_existing(path, false) {
        Ok(Some(mut file)) => match refusal(path, &mut file, rules)? {
            Some(why) => Err(Refused { path: path.to_path_buf(), why }.into()),
            None => Ok(()),
        },
        Ok(None) => Ok(()),
        Err(_) if !rules.force => Err(exists(path).into()),
        Err(e) => Err(e).wrap_err_with(|| format!("cannot open {}", path.display())),
    }
}

/// Writes `bytes` to `path`: a new file, or (with `force`) an existing one that is allowed
/// to be replaced. The existing file is locked while it is checked, emptied and written, so
/// a journal cannot be started on it in between.
pub fn write(path: &Path, bytes: &[u8], rules: Rules<'_>) -> eyre::Result<()> {
    let cannot = || format!("cannot write {}", path.display());
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut file = match open_existing(path, rules.force) {
                Ok(Some(f)) => f,
                Ok(None) => return write(path, bytes, rules), // removed meanwhile: create it
                Err(_) if !rules.force => return Err(exists(path).into()),
                Err(e) => return Err(e).wrap_err_with(cannot),
            };
            if let Some(why) = refusal(path, &mut file, rules)? {
                return Err(Refused { path: path.to_path_buf(), why }.into());
            }
            file.set_len(0).and_then(|()| file.rewind()).wrap_err_with(cannot)?;
            file
        }
        Err(e) => return Err(e).wrap_err_with(cannot),
    };
    file.write_all(bytes).and_then(|()| file.flush()).wrap_err_with(cannot)
}

/// Refuses a log file that is a journal or locked; an ordinary log is appended to.
pub fn check_appendable(path: &Path) -> eyre::Result<()> {
    check(path, Rules { force: true, inputs: &[] })
}

/// Opens an existing file to look at it (and, with `writable`, to replace it); `None` when
/// nothing is there.
fn open_existing(path: &Path, writable: bool) -> io::Result<Option<File>> {
    match OpenOptions::new().read(true).write(writable).open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // Opened to be refused by `refusal`, which names it.
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => open_existing(path, false),
        Err(e) => Err(e),
    }
}

/// Why the existing `file` at `path` must not be replaced, if it must not. On `None` the
/// caller holds the file's exclusive lock until it drops `file`.
fn refusal(path: &Path, file: &mut File, rules: Rules<'_>) -> eyre::Result<Option<String>> {
    let meta = file.metadata().wrap_err_with(|| format!("cannot stat {}", path.display()))?;
    if meta.is_dir() {
        return Ok(Some("it is a directory; name a file".into()));
    }
    for (input, what) in rules.inputs {
        if let Ok(m) = std::fs::metadata(input)
            && (m.dev(), m.ino()) == (meta.dev(), meta.ino())
        {
            return Ok(Some(format!(
                "it is {what}, which this command reads; name another file for the output (--force never \
                 writes over a file being read)"
            )));
        }
    }
    let mut head = Vec::new();
    file.take(64 * 1024).read_to_end(&mut head).wrap_err_with(|| format!("cannot read {}", path.display()))?;
    if crate::journal::is_journal_start(&head) {
        return Ok(Some(
            "it is a patchdeck journal, the record of a window (resume, rollback and report need it); name \
             another file for the output (--force never writes over a journal)"
                .into(),
        ));
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Ok(Some(
                "another process holds a lock on it (a running window locks its journal); name another file \
                 for the output"
                    .into(),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(e).wrap_err_with(|| format!("cannot lock {}", path.display())),
    }
    if !rules.force {
        return Ok(Some(exists(path).why));
    }
    Ok(None)
}

fn exists(path: &Path) -> Refused {
    Refused {
        path: path.to_path_buf(),
        why: "it already exists; name another file, or add --force to replace it".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Header, Journal};

    fn refused(r: eyre::Result<()>) -> String {
        let e = r.unwrap_err();
        e.downcast_ref::<Refused>().unwrap_or_else(|| panic!("not a refusal: {e:?}")).to_string()
    }

    #[test]
    fn a_new_file_is_written_and_an_existing_one_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.md");
        check(&path, Rules::default()).unwrap();
        write(&path, b"first", Rules::default()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");

        let message = refused(write(&path, b"second", Rules::default()));
        assert!(message.contains("already exists") && message.contains("--force"), "{message}");
        assert_eq!(refused(check(&path, Rules::default())), message);
        assert_eq!(std::fs::read(&path).unwrap(), b"first", "a refusal changes nothing");

        write(&path, b"2nd", Rules { force: true, inputs: &[] }).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2nd", "replaced whole, not overwritten in place");
    }

    #[test]
    fn journals_inputs_locked_files_and_directories_are_refused_even_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let force = Rules { force: true, inputs: &[] };
        let journal_path = dir.path().join("w.journal.jsonl");
        let journal = Journal::<u32>::create(&journal_path, &Header::new("w", "rb", "00", vec![], false)).unwrap();
        let before = std::fs::read(&journal_path).unwrap();
        let message = refused(write(&journal_path, b"report", force));
        assert!(message.contains("patchdeck journal"), "{message}");
        drop(journal);
        let message = refused(write(&journal_path, b"report", force));
        assert!(message.contains("patchdeck journal"), "a journal is refused unlocked too: {message}");
        assert_eq!(std::fs::read(&journal_path).unwrap(), before);

        let input = dir.path().join("input.txt");
        std::fs::write(&input, "read me").unwrap();
        let link = dir.path().join("link.txt");
        std::fs::hard_link(&input, &link).unwrap();
        let rules = Rules { force: true, inputs: &[(&input, "the journal being reported on")] };
        let message = refused(write(&link, b"x", rules));
        assert!(message.contains("the journal being reported on"), "{message}");
        assert_eq!(std::fs::read(&input).unwrap(), b"read me");

        let locked = dir.path().join("locked");
        std::fs::write(&locked, "mine").unwrap();
        let holder = File::open(&locked).unwrap();
        holder.lock().unwrap();
        let message = refused(write(&locked, b"x", force));
        assert!(message.contains("holds a lock"), "{message}");
        assert_eq!(std::fs::read(&locked).unwrap(), b"mine");
        drop(holder);
        write(&locked, b"x", force).unwrap();

        assert!(refused(write(dir.path(), b"x", force)).contains("directory"));
        check_appendable(&dir.path().join("new.log")).unwrap();
        assert!(refused(check_appendable(&journal_path)).contains("patchdeck journal"));
    }
}
