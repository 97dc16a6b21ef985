//! Entity paths: where data lives in a recording (`"lidar/front"`).

use std::fmt;
use std::sync::Arc;

/// Why a string is not a valid [`EntityPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntityPathError {
    /// The path was empty (use `"/"` for the root entity).
    #[error("entity path is empty (use \"/\" for the root)")]
    Empty,
    /// Two slashes in a row, or a trailing slash.
    #[error("entity path {path:?} has an empty part at byte {offset}")]
    EmptyPart {
        /// The whole path.
        path: String,
        /// Byte offset of the empty part.
        offset: usize,
    },
    /// A character that Rerun would need escaped (spaces, quotes, control characters, …).
    #[error("entity path {path:?} has the invalid character {ch:?} at byte {offset}")]
    InvalidChar {
        /// The whole path.
        path: String,
        /// The character.
        ch: char,
        /// Byte offset of the character.
        offset: usize,
    },
    /// `.`/`..` parts, or parts starting with `__`, which Rerun reserves (`/__properties`).
    #[error("entity path {path:?} uses the reserved part {part:?}")]
    Reserved {
        /// The whole path.
        path: String,
        /// The reserved part.
        part: String,
    },
}

/// A validated entity path such as `/lidar/front`.
///
/// Parts are separated by `/`; a leading slash is optional and always added when printed.
/// Parts may hold ASCII letters and digits, `_`, `-`, `.` and any non-ASCII alphanumeric
/// character; they must not be empty, `.` or `..`, or start with `__` (reserved by Rerun).
/// Cloning is cheap (the string is shared).
///
/// ```
/// use spate::EntityPath;
/// let p = EntityPath::parse("lidar/front")?;
/// assert_eq!(p.as_str(), "/lidar/front");
/// assert_eq!(p.parts().collect::<Vec<_>>(), ["lidar", "front"]);
/// assert!(EntityPath::parse("lidar//front").is_err());
/// assert!(EntityPath::parse("has space").is_err());
/// # Ok::<(), spate::EntityPathError>(())
/// ```
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct EntityPath(Arc<str>);

impl std::hash::Hash for EntityPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with `eq`: equal paths have equal strings.
        self.0.hash(state);
    }
}

impl PartialEq for EntityPath {
    fn eq(&self, other: &Self) -> bool {
        // Clones of one parsed path share their string: compare the pointer first.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl EntityPath {
    /// Parses and validates a path.
    pub fn parse(path: &str) -> Result<Self, EntityPathError> {
        if path.is_empty() {
            return Err(EntityPathError::Empty);
        }
        if path == "/" {
            return Ok(Self::root());
        }
        let body_start = usize::from(path.starts_with('/'));
        let body = &path[body_start..];
        let mut offset = body_start;
        for part in body.split('/') {
            if part.is_empty() {
                return Err(EntityPathError::EmptyPart {
                    path: path.to_owned(),
                    offset,
                });
            }
            if part == "." || part == ".." || part.starts_with("__") {
                return Err(EntityPathError::Reserved {
                    path: path.to_owned(),
                    part: part.to_owned(),
                });
            }
            for (i, ch) in part.char_indices() {
                let ok = ch.is_ascii_alphanumeric()
                    || matches!(ch, '_' | '-' | '.')
                    || (!ch.is_ascii() && ch.is_alphanumeric());
                if !ok {
                    return Err(EntityPathError::InvalidChar {
                        path: path.to_owned(),
                        ch,
                        offset: offset + i,
                    });
                }
            }
            offset += part.len() + 1;
        }
        Ok(Self(Arc::from(format!("/{body}"))))
    }

    /// The root entity `/`.
    pub fn root() -> Self {
        Self(Arc::from("/"))
    }

    /// A path taken as it is, without validation (used for paths read from files, which
    /// may legitimately use reserved parts such as `/__properties`).
    pub(crate) fn from_file_unchecked(path: &str) -> Self {
        if path.starts_with('/') {
            Self(Arc::from(path))
        } else {
            Self(Arc::from(format!("/{path}")))
        }
    }

    /// The path with its leading slash, e.g. `/lidar/front`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parts between the slashes.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0[1..].split('/').filter(|p| !p.is_empty())
    }

    /// Whether this is a Rerun-internal path (`/__properties…`).
    pub fn is_reserved(&self) -> bool {
        self.parts().any(|p| p.starts_with("__"))
    }
}

impl fmt::Display for EntityPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntityPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityPath({:?})", &*self.0)
    }
}

impl std::str::FromStr for EntityPath {
    type Err = EntityPathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for EntityPath {
    type Error = EntityPathError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EntityPath {
    type Error = EntityPathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths_are_normalised_with_a_leading_slash() {
        for (input, want) in [
            ("points", "/points"),
            ("/points/0", "/points/0"),
            ("world/lidar-front.v2", "/world/lidar-front.v2"),
            ("/", "/"),
            ("капля/ü", "/капля/ü"),
        ] {
            assert_eq!(EntityPath::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn invalid_paths_are_typed_errors_with_offsets() {
        assert_eq!(EntityPath::parse(""), Err(EntityPathError::Empty));
        assert!(matches!(
            EntityPath::parse("a//b"),
            Err(EntityPathError::EmptyPart { offset: 2, .. })
        ));
        assert!(matches!(
            EntityPath::parse("a/"),
            Err(EntityPathError::EmptyPart { offset: 2, .. })
        ));
        assert!(matches!(
            EntityPath::parse("/a/b c"),
            Err(EntityPathError::InvalidChar {
                ch: ' ',
                offset: 4,
                ..
            })
        ));
        assert!(matches!(
            EntityPath::parse("a/\n"),
            Err(EntityPathError::InvalidChar { ch: '\n', .. })
        ));
        assert!(matches!(
            EntityPath::parse("__properties"),
            Err(EntityPathError::Reserved { .. })
        ));
        assert!(matches!(
            EntityPath::parse("a/../b"),
            Err(EntityPathError::Reserved { .. })
        ));
    }
}
