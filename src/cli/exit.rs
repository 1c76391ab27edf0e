//! Exit codes, in one place (documented in the README and in `--help`).

/// Clean: `check` found nothing; a window finished with every host done, nothing stopped.
pub const CLEAN: u8 = 0;
/// `check` reached no host of the window; any failure outside the command's own verdict
/// (a journal that cannot be written, ssh that cannot start).
pub const OTHER_FAILURE: u8 = 1;
/// Invalid input: a runbook, inventory, baseline or argument that cannot be used (every
/// problem shown with file:line:col).
pub const INVALID_INPUT: u8 = 2;
/// Not clean: `check` found a divergence; a window had hard stops, failures or was aborted;
/// a drill's expectations did not hold; a rollback did not end verified.
pub const NOT_CLEAN: u8 = 3;
/// The window was left paused (a signal): `patchdeck run RUNBOOK --resume` carries on.
pub const PAUSED: u8 = 4;

/// `check`'s verdict as an exit code.
pub fn of_check(report: &crate::check::Report) -> u8 {
    use crate::check::Verdict;
    match report.verdict() {
        Verdict::Clean => CLEAN,
        Verdict::NothingReached => OTHER_FAILURE,
        Verdict::Findings => NOT_CLEAN,
    }
}

/// A window's end as an exit code.
pub fn of_window(summary: &crate::engine::Summary) -> u8 {
    if summary.paused {
        PAUSED
    } else if summary.clean() {
        CLEAN
    } else {
        NOT_CLEAN
    }
}
