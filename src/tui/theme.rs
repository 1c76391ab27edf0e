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

    /// The same theme with every colour brought down to what `depth` can show.
    pub fn for_depth(mut self, depth: ColorDepth) -> Theme {
        for st in self.styles_mut() {
            st.fg = st.fg.map(|c| depth.fit(c));
            st.bg = st.bg.map(|c| depth.fit(c));
        }
        self
    }

    fn styles_mut(&mut self) -> [&mut Style; 14] {
        [
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
        ]
    }

    /// The same theme with every colour removed.
    pub fn without_colour(mut self) -> Theme {
        for st in self.styles_mut() {
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

/// How many colours the terminal shows. A theme's 256-colour indexes and `#rrggbb` colours
/// are brought down to what it can show, so `TERM=xterm` gets only the 16 ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorDepth {
    /// The 16 ANSI colours (`TERM=xterm`, `screen`, `linux`, unknown terminals).
    Ansi16,
    /// The 256-colour palette (`TERM=*-256color`).
    Indexed256,
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`, `TERM=*-direct`).
    TrueColor,
}

impl ColorDepth {
    /// From the values of `TERM` and `COLORTERM`.
    pub fn detect(term: Option<&str>, colorterm: Option<&str>) -> ColorDepth {
        let colorterm = colorterm.unwrap_or_default().to_ascii_lowercase();
        let term = term.unwrap_or_default().to_ascii_lowercase();
        if colorterm == "truecolor" || colorterm == "24bit" || term.ends_with("-direct") {
            ColorDepth::TrueColor
        } else if term.contains("256color") {
            ColorDepth::Indexed256
        } else {
            ColorDepth::Ansi16
        }
    }

    /// This process's terminal, from the environment.
    pub fn from_env() -> ColorDepth {
        let var = |name: &str| std::env::var(name).ok();
        ColorDepth::detect(var("TERM").as_deref(), var("COLORTERM").as_deref())
    }

    /// `c` as this depth can show it: the nearest colour it has.
    pub fn fit(self, c: Color) -> Color {
        match (self, c) {
            (ColorDepth::TrueColor, c) => c,
            (ColorDepth::Indexed256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256(r, g, b)),
            (ColorDepth::Indexed256, c) => c,
            (ColorDepth::Ansi16, Color::Rgb(r, g, b)) => nearest_ansi(r, g, b),
            (ColorDepth::Ansi16, Color::Indexed(i)) if i < 16 => ANSI[usize::from(i)].0,
            (ColorDepth::Ansi16, Color::Indexed(i)) => {
                let (r, g, b) = rgb_of_256(i);
                nearest_ansi(r, g, b)
            }
            (ColorDepth::Ansi16, c) => c,
        }
    }
}

/// The 16 ANSI colours with xterm's default values.
const ANSI: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// The levels of xterm's 6x6x6 colour cube (indexes 16 to 231).
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

fn distance((r1, g1, b1): (u8, u8, u8), (r2, g2, b2): (u8, u8, u8)) -> u32 {
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).unsigned_abs().pow(2);
    d(r1, r2) + d(g1, g2) + d(b1, b2)
}

fn nearest_ansi(r: u8, g: u8, b: u8) -> Color {
    ANSI.iter().min_by_key(|(_, rgb)| distance(*rgb, (r, g, b))).map_or(Color::Reset, |(c, _)| *c)
}

fn rgb_of_256(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI[usize::from(i)].1,
        16..=231 => {
            let n = usize::from(i - 16);
            (CUBE[n / 36], CUBE[(n / 6) % 6], CUBE[n % 6])
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    (16..=255u8).min_by_key(|&i| distance(rgb_of_256(i), (r, g, b))).unwrap_or(16)
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
    fn colour_depth_follows_term_and_colorterm() {
        assert_eq!(ColorDepth::detect(Some("xterm"), None), ColorDepth::Ansi16);
        assert_eq!(ColorDepth::detect(Some("screen"), None), ColorDepth::Ansi16);
        assert_eq!(ColorDepth::detect(None, None), ColorDepth::Ansi16);
        assert_eq!(ColorDepth::detect(Some("xterm-256color"), None), ColorDepth::Indexed256);
        assert_eq!(ColorDepth::detect(Some("tmux-256color"), Some("")), ColorDepth::Indexed256);
        assert_eq!(ColorDepth::detect(Some("xterm"), Some("truecolor")), ColorDepth::TrueColor);
        assert_eq!(ColorDepth::detect(Some("xterm-256color"), Some("24bit")), ColorDepth::TrueColor);
        assert_eq!(ColorDepth::detect(Some("xterm-direct"), None), ColorDepth::TrueColor);
    }

    #[test]
    fn a_16_colour_terminal_gets_only_ansi_colours_and_a_256_colour_one_no_rgb() {
        let mut all = vec![];
        for (name, _) in BUILTIN {
            all.push(Theme::builtin(name).unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), "[styles]\nok = { fg = \"#ff8700\", bg = \"236\" }\n").unwrap();
        all.push(Theme::load(Some("mine"), Some(dir.path()), false).unwrap());
        let colours = |t: &mut Theme| t.styles_mut().iter().flat_map(|s| [s.fg, s.bg]).flatten().collect::<Vec<_>>();
        for theme in all {
            let mut sixteen = theme.clone().for_depth(ColorDepth::Ansi16);
            for c in colours(&mut sixteen) {
                assert!(!matches!(c, Color::Indexed(_) | Color::Rgb(..)), "{}: {c:?} on TERM=xterm", theme.name);
            }
            let mut indexed = theme.clone().for_depth(ColorDepth::Indexed256);
            assert!(colours(&mut indexed).iter().all(|c| !matches!(c, Color::Rgb(..))), "{}", theme.name);
            assert_eq!(theme.clone().for_depth(ColorDepth::TrueColor), theme);
        }
        assert_eq!(ColorDepth::Ansi16.fit(Color::Indexed(245)), Color::DarkGray);
        assert_eq!(ColorDepth::Ansi16.fit(Color::Indexed(196)), Color::LightRed);
        assert_eq!(ColorDepth::Ansi16.fit(Color::Indexed(9)), Color::LightRed);
        assert_eq!(ColorDepth::Indexed256.fit(Color::Rgb(255, 135, 0)), Color::Indexed(208));
    }

    #[test]
    fn no_color_strips_colours() {
        let t = Theme::load(Some("dark"), None, true).unwrap();
        assert_eq!(t.danger.fg, None);
        assert!(t.header.add_modifier.contains(Modifier::REVERSED));
    }
}
