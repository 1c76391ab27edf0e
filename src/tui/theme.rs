//! Themes: a few named styles, from TOML. Four are built in (`themes/*.toml`); a file of
//! the same name in `$XDG_CONFIG_HOME/patchdeck/themes/` (or `~/.config/...`) overrides
//! one, and new names can be added there. `NO_COLOR` strips colours from any theme and
//! keeps bold/underline/reverse, so every state stays distinguishable.

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::diag::{Diagnostics, SourceFile};

/// The built-in themes, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

pub const DEFAULT: &str = "dark";

/// Every style the views use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Theme {
    pub name: String,
    pub text: Style,
    pub muted: Style,
    pub title: Style,
    pub border: Style,
    pub border_focus: Style,
    pub header: Style,
    pub selected: Style,
    pub ok: Style,
    pub warn: Style,
    pub danger: Style,
    pub running: Style,
    pub key: Style,
    pub modal_border: Style,
    pub input: Style,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: Option<String>,
    #[serde(default)]
    styles: RawStyles,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawStyles {
    text: RawStyle,
    muted: RawStyle,
    title: RawStyle,
    border: RawStyle,
    border_focus: RawStyle,
    header: RawStyle,
    selected: RawStyle,
    ok: RawStyle,
    warn: RawStyle,
    danger: RawStyle,
    running: RawStyle,
    key: RawStyle,
    modal_border: RawStyle,
    input: RawStyle,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStyle {
    fg: Option<ThemeColor>,
    bg: Option<ThemeColor>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

struct ThemeColor(Color);

impl<'de> Deserialize<'de> for ThemeColor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_color(&s).map(ThemeColor).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown colour \"{s}\": use a name (red, light_cyan, ...), an index \"0\"..\"255\" or \"#rrggbb\""
            ))
        })
    }
}

fn parse_color(s: &str) -> Option<Color> {
    if let Ok(i) = s.parse::<u8>() {
        return Some(Color::Indexed(i));
    }
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark_gray" | "dark_grey" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        "reset" | "default" => Color::Reset,
        _ => return None,
    })
}

impl RawStyle {
    fn style(&self) -> Style {
        let mut st = Style::default();
        if let Some(c) = &self.fg {
            st = st.fg(c.0);
        }
        if let Some(c) = &self.bg {
            st = st.bg(c.0);
        }
        for (on, m) in [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.italic, Modifier::ITALIC),
            (self.underlined, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
        ] {
            if on {
                st = st.add_modifier(m);
            }
        }
        st
    }
}

impl Theme {
    /// Parses a theme file; problems are reported at file:line:col naming the key.
    pub fn parse(src: &SourceFile, fallback_name: &str) -> Result<Theme, Diagnostics> {
        let raw: RawTheme = toml::from_str(&src.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            Diagnostics::from(src.error(span, format!("invalid theme: {}", e.message().trim())))
        })?;
        let s = &raw.styles;
        Ok(Theme {
            name: raw.name.unwrap_or_else(|| fallback_name.to_string()),
            text: s.text.style(),
            muted: s.muted.style(),
            title: s.title.style(),
            border: s.border.style(),
            border_focus: s.border_focus.style(),
            header: s.header.style(),
            selected: s.selected.style(),
            ok: s.ok.style(),
            warn: s.warn.style(),
            danger: s.danger.style(),
            running: s.running.style(),
            key: s.key.style(),
            modal_border: s.modal_border.style(),
            input: s.input.style(),
        })
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (n, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let src = SourceFile::new(format!("themes/{n}.toml"), *text);
        Theme::parse(&src, n).ok()
    }

    /// The theme to use: the user's file of that name, else the built-in one. With
    /// `no_color`, colours are stripped (modifiers stay).
    pub fn load(name: Option<&str>, user_dir: Option<&Path>, no_color: bool) -> eyre::Result<Theme> {
        let name = name.unwrap_or(DEFAULT);
        let user_file = user_dir.map(|d| d.join(format!("{name}.toml"))).filter(|p| p.is_file());
        let theme = if let Some(path) = user_file {
            let src = SourceFile::read(&path)?;
            Theme::parse(&src, name)?
        } else if let Some(t) = Theme::builtin(name) {
            t
        } else {
            let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
            if let Some(dir) = user_dir
                && let Ok(rd) = std::fs::read_dir(dir)
            {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "toml")
                        && let Some(stem) = p.file_stem()
                    {
                        names.push(stem.to_string_lossy().into_owned());
                    }
                }
            }
            eyre::bail!("no theme named \"{name}\": the themes are {}", names.join(", "));
        };
        Ok(if no_color { theme.without_colour() } else { theme })
    }

    /// The same theme with every colour removed.
    pub fn without_colour(mut self) -> Theme {
        for st in [
            &mut self.text,
            &mut self.muted,
            &mut self.title,
            &mut self.border,
            &mut self.border_focus,
            &mut self.header,
            &mut self.selected,
            &mut self.ok,
            &mut self.warn,
            &mut self.danger,
            &mut self.running,
            &mut self.key,
            &mut self.modal_border,
            &mut self.input,
        ] {
            st.fg = None;
            st.bg = None;
        }
        // Without colour, these must still stand out.
        self.header = self.header.add_modifier(Modifier::REVERSED);
        self.selected = self.selected.add_modifier(Modifier::REVERSED);
        self.danger = self.danger.add_modifier(Modifier::BOLD);
        self
    }
}

/// `$XDG_CONFIG_HOME/patchdeck/themes`, else `~/.config/patchdeck/themes`.
pub fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("patchdeck").join("themes"))
}

/// `NO_COLOR` set to anything non-empty.
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses() {
        for (name, text) in BUILTIN {
            let src = SourceFile::new(format!("themes/{name}.toml"), *text);
            let t = Theme::parse(&src, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&t.name, name);
        }
    }

    #[test]
    fn a_bad_key_is_named_with_its_position() {
        let src = SourceFile::new("mine.toml", "name = \"x\"\n[styles]\nok = { fgg = \"red\" }\n");
        let err = Theme::parse(&src, "x").unwrap_err().to_string();
        assert!(err.contains("mine.toml:3:"), "{err}");
        assert!(err.contains("fgg"), "{err}");
        let src = SourceFile::new("mine.toml", "[styles]\nwarn = { fg = \"purpleish\" }\n");
        let err = Theme::parse(&src, "x").unwrap_err().to_string();
        assert!(err.contains("mine.toml:2:") && err.contains("purpleish"), "{err}");
        let src = SourceFile::new("mine.toml", "[styles]\nwarnn = {}\n");
        let err = Theme::parse(&src, "x").unwrap_err().to_string();
        assert!(err.contains("mine.toml:2:1") && err.contains("warnn"), "{err}");
    }

    #[test]
    fn user_dir_overrides_a_builtin_and_unknown_names_list_the_choices() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dark.toml"), "name = \"my dark\"\n").unwrap();
        let t = Theme::load(Some("dark"), Some(dir.path()), false).unwrap();
        assert_eq!(t.name, "my dark");
        let err = Theme::load(Some("nope"), Some(dir.path()), false).unwrap_err().to_string();
        assert!(err.contains("high-contrast") && err.contains("monochrome"), "{err}");
    }

    #[test]
    fn no_color_strips_colours() {
        let t = Theme::load(Some("dark"), None, true).unwrap();
        assert_eq!(t.danger.fg, None);
        assert!(t.header.add_modifier.contains(Modifier::REVERSED));
    }
}
