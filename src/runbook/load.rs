//! Loading a runbook: read the file, parse it, load the inventory it names, validate.
//!
//! All file reading happens here; [`super::validate`] is pure. Problems in the runbook and in
//! the inventory file are reported together.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics, Limit, SourceFile};
use crate::inventory::{Inventory, load_file, toml_file};
use crate::runbook::Runbook;
use crate::runbook::raw::{self, RawRunbook};
use crate::runbook::validate::{self, Fleet};

/// Loads and validates the runbook at `path`; relative paths in it resolve against its directory.
pub fn load(path: &Path) -> Result<Runbook, Diagnostics> {
    let src = SourceFile::read_limited(path, Limit::RUNBOOK)?;
    load_str(path, &src.text)
}

/// Loads the runbook at `path` and the baseline it names, read by `load_baseline`: every
/// problem of the runbook, its hosts file and the baseline comes back in one report. The
/// baseline is read even when the runbook has problems, as long as its `[baseline] file`
/// could be read from it.
pub fn load_with<B>(
    path: &Path,
    load_baseline: impl FnOnce(&Path) -> Result<B, Diagnostics>,
) -> Result<(Runbook, B), Diagnostics> {
    let src = SourceFile::read_limited(path, Limit::RUNBOOK)?;
    let (runbook, baseline_file) = load_parts(path, &src.text);
    let baseline = baseline_file.map(|file| load_baseline(&file));
    match (runbook, baseline) {
        (Ok(runbook), Some(Ok(baseline))) => Ok((runbook, baseline)),
        (runbook, baseline) => {
            let mut all = runbook.err().unwrap_or_default();
            all.0.extend(baseline.and_then(Result::err).unwrap_or_default().0);
            Err(rejected(&src, all))
        }
    }
}

/// Validates runbook `text` as if read from `path`: `path` names the file in messages and its
/// directory is where relative paths (inventory, baseline, ssh_config) are resolved.
pub fn load_str(path: &Path, text: &str) -> Result<Runbook, Diagnostics> {
    load_parts(path, text).0
}

/// [`load_str`], and where the baseline file is (when the runbook says so readably, valid or not).
fn load_parts(path: &Path, text: &str) -> (Result<Runbook, Diagnostics>, Option<PathBuf>) {
    let src = SourceFile::new(path, text);
    let mut diags = Diagnostics::default();
    let Some(mut raw) = raw::parse(&src, &mut diags) else {
        return (Err(rejected(&src, diags)), None);
    };
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let baseline_file = raw
        .baseline
        .as_ref()
        .and_then(|b| b.get_ref().file.as_ref())
        .filter(|f| !f.get_ref().trim().is_empty())
        .map(|f| base_dir.join(f.get_ref()));
    let fleet = fleet(&src, &base_dir, &mut raw, &mut diags);
    let runbook = validate::validate(&src, &base_dir, raw, fleet, &mut diags);
    let runbook = match runbook {
        Some(r) => diags.into_result(r),
        None => Err(rejected(&src, diags)),
    };
    (runbook, baseline_file)
}

/// The sorted problems of a rejected runbook (never empty, even if a check forgot to say why).
fn rejected(src: &SourceFile, diags: Diagnostics) -> Diagnostics {
    match diags.into_result(()) {
        Err(d) => d,
        Ok(()) => Diagnostic::whole_file(&src.path, "runbook rejected without a reason (a bug in patchdeck)").into(),
    }
}

/// Loads the hosts: from `[inventory] file` or from inline `[[host]]` tables (exactly one).
fn fleet(src: &SourceFile, base_dir: &Path, raw: &mut RawRunbook, diags: &mut Diagnostics) -> Fleet {
    let mut fleet = Fleet::default();
    let inventory = raw.inventory.take().map(Spanned::into_inner);
    let (file, ssh_config) = match inventory {
        Some(i) => (i.file, i.ssh_config),
        None => (None, None),
    };
    if let Some(cfg) = ssh_config {
        let resolved = base_dir.join(cfg.get_ref());
        match std::fs::metadata(&resolved) {
            Ok(m) if m.is_file() => fleet.ssh_config = Some(resolved),
            Ok(_) => diags.push(src.error(
                cfg.span(),
                format!("ssh_config `{}` is not a regular file: give the path of the file itself", resolved.display()),
            )),
            Err(_) => diags.push(src.error(cfg.span(), format!("ssh_config file `{}` not found", resolved.display()))),
        }
    }
    let inline = raw.hosts.take();
    fleet.inventory = match (file, inline) {
        (Some(f), Some(_)) => {
            diags.push(
                src.error(f.span(), "hosts are given twice: `[inventory] file` and inline [[host]] tables; keep one"),
            );
            None
        }
        (None, None) => {
            diags.push(src.error(
                raw.span.start..raw.span.start,
                "no hosts: add `[inventory]` with `file = \"hosts.toml\"`, or inline [[host]] tables",
            ));
            None
        }
        (None, Some(inline)) => {
            let had_problems = !inline.problems.is_empty();
            diags.0.extend(inline.problems.0);
            usable(inline.inventory, had_problems, inline.names_complete, &mut fleet.partial)
        }
        (Some(f), None) => {
            inventory_file(src, base_dir.join(f.get_ref()), f.span(), &mut fleet.sources, &mut fleet.partial, diags)
        }
    };
    fleet
}

/// An inventory with problems (already reported) still serves to check the host names waves
/// use, when every declared host kept its name; the runbook is rejected either way.
fn usable(inventory: Inventory, had_problems: bool, names_complete: bool, partial: &mut bool) -> Option<Inventory> {
    if !had_problems {
        return Some(inventory);
    }
    *partial = true;
    names_complete.then_some(inventory)
}

/// Loads an inventory file by its kind: `.toml` here (it shares the runbook's syntax and
/// messages); anything else is an Ansible inventory, read by [`load_file`] exactly as
/// Ansible's own plugins choose (`.yaml`/`.yml`/`.json` as YAML, any other name as INI),
/// so a runbook accepts every inventory the inventory module does.
fn inventory_file(
    src: &SourceFile,
    path: PathBuf,
    span: Range<usize>,
    sources: &mut Vec<SourceFile>,
    partial: &mut bool,
    diags: &mut Diagnostics,
) -> Option<Inventory> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let ansible = ext.as_deref() != Some("toml");
    let file = match SourceFile::read_limited(&path, Limit::HOSTS) {
        Ok(file) => file,
        Err(problems) => {
            for d in problems.iter() {
                diags.push(src.error(span.clone(), format!("inventory file `{}`: {}", path.display(), d.message)));
            }
            return None;
        }
    };
    if !ansible {
        let loaded = toml_file::parse_partial(&file);
        sources.push(file);
        let had_problems = !loaded.problems.is_empty();
        diags.0.extend(loaded.problems.0);
        return usable(loaded.inventory, had_problems, loaded.names_complete, partial);
    }
    sources.push(file);
    // The Ansible parsers give all or nothing: a file with problems leaves the host names
    // unknown, so waves are not checked against it.
    match load_file(&path) {
        Ok(inv) => Some(inv),
        Err(errors) => {
            diags.0.extend(errors.0);
            *partial = true;
            None
        }
    }
}
