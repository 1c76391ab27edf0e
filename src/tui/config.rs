//! The user's config file: `$PATCHDECK_CONFIG` if set, else
//! `$XDG_CONFIG_HOME/patchdeck/config.toml`, else `~/.config/patchdeck/config.toml`.
//! TOML, one key today: `theme = "NAME"` (the cockpit's theme; `--theme` beats it).
//!
//! No file at the default place is fine: the defaults apply. A file named by
//! `$PATCHDECK_CONFIG` must exist (a typo there would otherwise be silently ignored). An
//! unknown key or a wrong type is reported at `file:line:col` naming the key, as for every
//! other input file ([`crate::diag`]).

use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{Diagnostics, SourceFile};

/// The environment variable naming the config file.
pub const ENV: &str = "PATCHDECK_CONFIG";

/// Which keys the file may have, for the error about one it may not.
const KEYS_HELP: &str =
    "the config file has one key: theme = \"NAME\" (dark, light, high-contrast, monochrome, or yours)";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    theme: Option<Spanned<String>>,
}

/// The config file's settings (all optional), with where each was set.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file read, if there was one.
    pub source: Option<SourceFile>,
    /// `theme = "NAME"` and the span of its value.
    pub theme: Option<(String, Range<usize>)>,
}

impl Config {
    /// Parses a config file's text.
    pub fn parse(src: &SourceFile) -> Result<Config, Diagnostics> {
        let raw: RawConfig = toml::from_str(&src.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim();
            let d = src.error(span, format!("invalid config: {message}"));
            Diagnostics::from(if message.starts_with("unknown field") { d.with_help(KEYS_HELP) } else { d })
        })?;
        let theme = raw.theme.map(|t| {
            let span = t.span();
            (t.into_inner(), span)
        });
        if let Some((name, span)) = &theme
            && name.trim().is_empty()
        {
            return Err(src.error(span.clone(), "invalid config: theme is empty").with_help(KEYS_HELP).into());
        }
        Ok(Config { source: Some(src.clone()), theme })
    }

    /// Reads the config file at `path`. When it does not exist: the defaults if `path` is
    /// the default place, an error if it was named (`$PATCHDECK_CONFIG`).
    pub fn load(path: &Path, named: bool) -> eyre::Result<Config> {
        if !named && !path.exists() {
            return Ok(Config::default());
        }
        if named && !path.exists() {
            eyre::bail!("${ENV} names {}, which does not exist: create it, or unset {ENV}", path.display());
        }
        Ok(Config::parse(&SourceFile::read(path)?)?)
    }

    /// The config file of this environment (see the module's doc), read.
    pub fn from_env() -> eyre::Result<Config> {
        match location(std::env::var_os(ENV), std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME")) {
            Some((path, named)) => Config::load(&path, named),
            None => Ok(Config::default()),
        }
    }

    /// A problem with the `theme` value, at its position in the file.
    pub fn theme_error(&self, message: impl std::fmt::Display) -> Option<Diagnostics> {
        let (src, (_, span)) = (self.source.as_ref()?, self.theme.as_ref()?);
        Some(src.error(span.clone(), format!("invalid config: theme: {message}")).into())
    }
}

/// Where the config file is, and whether it was named by `$PATCHDECK_CONFIG`: that, else
/// `$XDG_CONFIG_HOME/patchdeck/config.toml`, else `$HOME/.config/patchdeck/config.toml`.
/// Empty variables count as unset.
pub fn location(
    patchdeck_config: Option<OsString>,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<(PathBuf, bool)> {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set(patchdeck_config) {
        return Some((p, true));
    }
    let base = set(xdg_config_home).or_else(|| set(home).map(|h| h.join(".config")))?;
    Some((base.join("patchdeck").join("config.toml"), false))
}

/// The theme to use: `--theme` if given, else the config file's, else the default; see
/// [`super::theme::Theme::load`] for user theme files and `NO_COLOR`. Its colours are
/// brought down to what the terminal shows (`TERM`, `COLORTERM`: see
/// [`super::theme::ColorDepth`]). A name from the config file that is not a theme is
/// reported at its position in the file.
pub fn theme(
    flag: Option<&str>,
    config: &Config,
    user_dir: Option<&Path>,
    no_color: bool,
) -> eyre::Result<super::theme::Theme> {
    let depth = super::theme::ColorDepth::from_env();
    chosen_theme(flag, config, user_dir, no_color).map(|t| t.for_depth(depth))
}

fn chosen_theme(
    flag: Option<&str>,
    config: &Config,
    user_dir: Option<&Path>,
    no_color: bool,
) -> eyre::Result<super::theme::Theme> {
    use super::theme::Theme;
    if flag.is_some() {
        return Theme::load(flag, user_dir, no_color);
    }
    let name = config.theme.as_ref().map(|(n, _)| n.as_str());
    Theme::load(name, user_dir, no_color).map_err(|e| {
        // A broken theme file already names its own file and position.
        if e.downcast_ref::<Diagnostics>().is_some() {
            return e;
        }
        match config.theme_error(&e) {
            Some(d) => d.into(),
            None => e,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<OsString> {
        Some(OsString::from(s))
    }

    #[test]
    fn the_file_is_named_by_the_env_else_xdg_else_home() {
        assert_eq!(location(os("/etc/pd.toml"), os("/x"), os("/h")), Some(("/etc/pd.toml".into(), true)));
        assert_eq!(location(None, os("/x"), os("/h")), Some(("/x/patchdeck/config.toml".into(), false)));
        assert_eq!(location(os(""), os(""), os("/h")), Some(("/h/.config/patchdeck/config.toml".into(), false)));
        assert_eq!(location(None, None, None), None);
    }

    #[test]
    fn theme_is_read_and_an_unknown_key_is_named_with_its_position() {
        let c = Config::parse(&SourceFile::new("config.toml", "# mine\ntheme = \"light\"\n")).unwrap();
        assert_eq!(c.theme.as_ref().map(|(n, _)| n.as_str()), Some("light"));
        let c = Config::parse(&SourceFile::new("config.toml", "")).unwrap();
        assert!(c.theme.is_none());

        let err = Config::parse(&SourceFile::new("config.toml", "theme = \"light\"\ncolour = \"red\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.toml:2:1: error: invalid config: unknown field `colour`"), "{err}");
        assert!(err.contains("help: the config file has one key: theme"), "{err}");

        let err = Config::parse(&SourceFile::new("config.toml", "theme = 3\n")).unwrap_err().to_string();
        assert!(err.contains("config.toml:1:9: error: invalid config: invalid type: integer `3`"), "{err}");
        let err = Config::parse(&SourceFile::new("config.toml", "theme = \" \"\n")).unwrap_err().to_string();
        assert!(err.contains("config.toml:1:9: error: invalid config: theme is empty"), "{err}");
    }

    #[test]
    fn a_missing_file_is_fine_unless_it_was_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("config.toml");
        assert!(Config::load(&missing, false).unwrap().theme.is_none());
        let err = Config::load(&missing, true).unwrap_err().to_string();
        assert!(err.contains("$PATCHDECK_CONFIG names") && err.contains("config.toml"), "{err}");
    }

    #[test]
    fn the_config_file_picks_the_theme_and_the_flag_beats_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "theme = \"light\"\n").unwrap();
        let config = Config::load(&path, true).unwrap();
        assert_eq!(theme(None, &config, None, false).unwrap().name, "light");
        assert_eq!(theme(Some("monochrome"), &config, None, false).unwrap().name, "monochrome");
        // Nothing anywhere: the default.
        assert_eq!(theme(None, &Config::default(), None, false).unwrap().name, "dark");

        // A name that is no theme is reported where the file sets it; the flag still wins.
        std::fs::write(&path, "\ntheme = \"nope\"\n").unwrap();
        let config = Config::load(&path, true).unwrap();
        let err = theme(None, &config, None, false).unwrap_err().to_string();
        assert!(err.contains("config.toml:2:9: error: invalid config: theme: no theme named \"nope\""), "{err}");
        assert_eq!(theme(Some("dark"), &config, None, false).unwrap().name, "dark");
    }
}
