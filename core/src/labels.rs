//! Class names from static tables.

/// A borrowed table of class names, indexed by class.
///
/// ```
/// use inception_edge_core::labels::Labels;
/// static NAMES: [&str; 2] = ["cat", "dog"];
/// let labels = Labels::new(&NAMES);
/// assert_eq!(labels.get(1), Some("dog"));
/// assert_eq!(labels.name(7), "class 7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Labels<'a> {
    names: &'a [&'a str],
}

impl<'a> Labels<'a> {
    /// Wraps a table of names.
    pub const fn new(names: &'a [&'a str]) -> Self {
        Labels { names }
    }

    /// Number of classes named.
    pub const fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the table is empty.
    pub const fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of `class`, if the table has one.
    pub fn get(&self, class: u16) -> Option<&'a str> {
        self.names.get(usize::from(class)).copied()
    }

    /// The name of `class`, or a [`LabelName::Index`] placeholder displayed as `class N`.
    pub fn name(&self, class: u16) -> LabelName<'a> {
        match self.get(class) {
            Some(s) => LabelName::Name(s),
            None => LabelName::Index(class),
        }
    }
}

/// A class name, or the class index when the table has none; displays as the name or
/// `class N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LabelName<'a> {
    /// The table's name.
    Name(&'a str),
    /// No name in the table.
    Index(u16),
}

impl core::fmt::Display for LabelName<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LabelName::Name(s) => f.pad(s),
            LabelName::Index(i) => f.pad(&alloc_free_index(*i)),
        }
    }
}

/// Formats `class N` into a fixed buffer (no allocation).
fn alloc_free_index(i: u16) -> heapless::String<12> {
    use core::fmt::Write;
    let mut s = heapless::String::new();
    // "class 65535" is 11 bytes: always fits.
    let _ = write!(s, "class {i}");
    s
}

impl PartialEq<&str> for LabelName<'_> {
    fn eq(&self, other: &&str) -> bool {
        match self {
            LabelName::Name(s) => s == other,
            LabelName::Index(i) => alloc_free_index(*i).as_str() == *other,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn missing_classes_display_their_index() {
        let l = Labels::new(&["a"]);
        assert_eq!(l.get(3), None);
        assert_eq!(format!("{}", l.name(65535)), "class 65535");
        assert_eq!(format!("[{:>4}]", l.name(0)), "[   a]");
    }
}
