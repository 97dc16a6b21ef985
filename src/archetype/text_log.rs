//! The `TextLog` archetype (`rerun.archetypes.TextLog`): one log line, with an optional level
//! and color.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray, UInt32Array};

use super::ArchetypeError;
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("TextLog" {
    COLOR: "color" => "Color",
    LEVEL: "level" => "TextLogLevel",
    TEXT: "text" => "Text",
});

/// The level of a [`TextLog`] line: one of the six the viewer knows (it colors and filters
/// by them), or any other text.
///
/// Written as its name (`"INFO"`, `"WARN"`, …), exactly as given: `From<&str>` maps the six
/// standard names to their variants and keeps anything else (including `"info"`) as
/// [`Custom`](Self::Custom). Two levels are equal when their names are.
///
/// ```
/// use spate::archetype::TextLogLevel;
/// assert_eq!(TextLogLevel::Warn.as_str(), "WARN");
/// assert_eq!(TextLogLevel::from("WARN"), TextLogLevel::Warn);
/// assert_eq!(TextLogLevel::from("AUDIT").as_str(), "AUDIT");
/// assert_eq!(TextLogLevel::from(log::Level::Error), TextLogLevel::Error);
/// ```
#[derive(Clone, Debug)]
pub enum TextLogLevel {
    /// `"CRITICAL"`: an error so severe the program cannot go on.
    Critical,
    /// `"ERROR"`: something went wrong.
    Error,
    /// `"WARN"`: something may be wrong.
    Warn,
    /// `"INFO"`: an ordinary event.
    Info,
    /// `"DEBUG"`: details for whoever debugs the program.
    Debug,
    /// `"TRACE"`: the finest details.
    Trace,
    /// Any other level, written as given.
    Custom(Cow<'static, str>),
}

impl TextLogLevel {
    /// The six levels the viewer knows, most severe first.
    pub const STANDARD: [Self; 6] = [
        Self::Critical,
        Self::Error,
        Self::Warn,
        Self::Info,
        Self::Debug,
        Self::Trace,
    ];

    /// The name written to the recording.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Critical => "CRITICAL",
            Self::Error => "ERROR",
            Self::Warn => "WARN",
            Self::Info => "INFO",
            Self::Debug => "DEBUG",
            Self::Trace => "TRACE",
            Self::Custom(name) => name,
        }
    }

    /// The standard level of this name, if it is one (case-sensitive, as the viewer reads it).
    fn standard(name: &str) -> Option<Self> {
        Self::STANDARD.into_iter().find(|l| l.as_str() == name)
    }
}

impl PartialEq for TextLogLevel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TextLogLevel {}

impl Hash for TextLogLevel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for TextLogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for TextLogLevel {
    fn from(name: &str) -> Self {
        Self::standard(name).unwrap_or_else(|| Self::Custom(Cow::Owned(name.to_owned())))
    }
}

impl From<String> for TextLogLevel {
    fn from(name: String) -> Self {
        Self::standard(&name).unwrap_or(Self::Custom(Cow::Owned(name)))
    }
}

impl From<log::Level> for TextLogLevel {
    /// The `log` crate's levels map to the standard level of the same name.
    fn from(level: log::Level) -> Self {
        match level {
            log::Level::Error => Self::Error,
            log::Level::Warn => Self::Warn,
            log::Level::Info => Self::Info,
            log::Level::Debug => Self::Debug,
            log::Level::Trace => Self::Trace,
        }
    }
}

/// One line of text in a log view, with an optional [`TextLogLevel`] and color; written as the
/// official SDK's `rr.TextLog(text, level=…, color=…)` writes it.
///
/// ```
/// use spate::archetype::{TextLog, TextLogLevel};
/// use spate::AsComponents;
///
/// let line = TextLog::new("battery at 12%")
///     .with_level(TextLogLevel::Warn)
///     .with_color(0xFF8000FF); // 0xRRGGBBAA
/// let columns = line.as_components()?;
/// let names: Vec<&str> = columns.iter().map(|(d, _)| &*d.component).collect();
/// assert_eq!(names, ["TextLog:color", "TextLog:level", "TextLog:text"]);
///
/// // Any other level is written as given.
/// let audit = TextLog::new("door opened").with_level("AUDIT");
/// assert_eq!(audit.level().map(|l| l.as_str()), Some("AUDIT"));
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TextLog {
    text: StringArray,
    level: Option<TextLogLevel>,
    color: Option<u32>,
}

impl TextLog {
    /// A line with this text, and no level (the viewer shows it without one).
    pub fn new(text: impl AsRef<str>) -> Self {
        Self {
            text: StringArray::from_iter_values([text]),
            level: None,
            color: None,
        }
    }

    /// The level: a [`TextLogLevel`], or its name (`"INFO"`, or any other text).
    pub fn with_level(mut self, level: impl Into<TextLogLevel>) -> Self {
        self.level = Some(level.into());
        self
    }

    /// The line's color, `0xRRGGBBAA`.
    pub fn with_color(mut self, rgba: u32) -> Self {
        self.color = Some(rgba);
        self
    }

    /// The text.
    pub fn text(&self) -> &str {
        self.text.value(0)
    }

    /// The level, if one was given.
    pub fn level(&self) -> Option<&TextLogLevel> {
        self.level.as_ref()
    }
}

impl AsComponents for TextLog {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(3);
        // Sorted by component name, as the official SDK writes them.
        if let Some(c) = self.color {
            out.push((COLOR, Arc::new(UInt32Array::from(vec![c]))));
        }
        if let Some(l) = &self.level {
            out.push((LEVEL, Arc::new(StringArray::from_iter_values([l.as_str()]))));
        }
        out.push((TEXT, Arc::new(self.text.clone())));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::super::testing::{column, columns_of};
    use super::*;

    #[test]
    fn columns_are_those_of_the_official_sdk() {
        // From the SDK 0.41 dump: rr.TextLog("hello", level=CRITICAL, color=[10, 20, 30]).
        let full = TextLog::new("hello")
            .with_level(TextLogLevel::Critical)
            .with_color(0x0A14_1EFF);
        let expect = |c, t, ty| column("TextLog", c, t, ty);
        assert_eq!(
            columns_of(&full),
            [
                expect("color", "Color", DataType::UInt32),
                expect("level", "TextLogLevel", DataType::Utf8),
                expect("text", "Text", DataType::Utf8),
            ]
        );
        // rr.TextLog("plain") writes the text alone.
        let plain = columns_of(&TextLog::new("plain"));
        assert_eq!(plain.len(), 1);
        assert_eq!(plain[0].0, "TextLog:text");
    }

    #[test]
    fn values_are_written_as_given() {
        let line = TextLog::new("x")
            .with_level("CUSTOM")
            .with_color(169_090_815);
        let comps = line.as_components().unwrap();
        let text = |i: usize| {
            comps[i]
                .1
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_owned()
        };
        assert_eq!(text(1), "CUSTOM");
        assert_eq!(text(2), "x");
        let color = comps[0].1.as_any().downcast_ref::<UInt32Array>().unwrap();
        assert_eq!(color.values(), &[169_090_815]);
    }

    #[test]
    fn levels_are_the_sdks_six_and_any_other() {
        let names: Vec<&str> = TextLogLevel::STANDARD.iter().map(|l| l.as_str()).collect();
        assert_eq!(
            names,
            ["CRITICAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
        );
        for l in TextLogLevel::STANDARD {
            assert_eq!(TextLogLevel::from(l.as_str()), l);
            assert!(!matches!(
                TextLogLevel::from(l.as_str().to_owned()),
                TextLogLevel::Custom(_)
            ));
        }
        assert_eq!(TextLogLevel::Custom("INFO".into()), TextLogLevel::Info);
        assert!(matches!(
            TextLogLevel::from("info"),
            TextLogLevel::Custom(_)
        ));
        assert_eq!(TextLogLevel::from("info").to_string(), "info");
    }
}
