//! Loading YAML into typed config with precise, fixable errors.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A config problem a user can fix: where it is, what is wrong, and a hint.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn at(mut self, line: u64, column: u64) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Points at the value at `path` in the file (see [`super::locate`]),
    /// when the file can be read and the path found.
    pub fn at_path(self, path: &[super::locate::Step]) -> Self {
        let Ok(text) = std::fs::read_to_string(&self.file) else {
            return self;
        };
        match super::locate::locate(&text, path) {
            Some((line, column)) => self.at(line, column),
            None => self,
        }
    }

    /// Adds `did you mean X?` when a candidate is close to `got`.
    pub fn suggest<'a>(self, got: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(got, candidates) {
            Some(best) => self.with_hint(format!("did you mean `{best}`?")),
            None => self,
        }
    }

    /// Points at the value of the first `key:` in the file, when it is found
    /// (for errors found after parsing, which has no positions left).
    pub fn at_key(self, key: &str) -> Self {
        let Ok(text) = std::fs::read_to_string(&self.file) else {
            return self;
        };
        let needle = format!("{key}:");
        for (i, line) in text.lines().enumerate() {
            if let Some(at) = line.find(&needle) {
                let value =
                    line[at + needle.len()..].len() - line[at + needle.len()..].trim_start().len();
                return self.at(i as u64 + 1, (at + needle.len() + value) as u64 + 1);
            }
        }
        self
    }
}

/// A path a config file names (`key: rel`), resolved against the file's
/// folder. It must exist and stay inside the project (the folder above the
/// config file's folder): a config is not a way to read arbitrary files.
pub fn resolve_inside(config_file: &Path, key: &str, rel: &str) -> Result<PathBuf, ConfigError> {
    let folder = config_file.parent().unwrap_or(Path::new("."));
    let project = folder.parent().unwrap_or(folder);
    let joined = folder.join(rel);
    let fail = |message: String, hint: &str| {
        Err(ConfigError::new(config_file, message)
            .at_key(key)
            .with_hint(hint.to_string()))
    };
    let (Ok(full), Ok(root)) = (joined.canonicalize(), project.canonicalize()) else {
        return fail(
            format!(
                "`{key}: {rel}` names a file that cannot be read ({} not found)",
                joined.display()
            ),
            "paths are relative to this file's folder",
        );
    };
    if !full.starts_with(&root) {
        return fail(
            format!(
                "`{key}: {rel}` points outside the project ({})",
                root.display()
            ),
            "keep prompts and provider files inside the project folder",
        );
    }
    Ok(full)
}

/// A template error as a config error's message: the problem, without the
/// template engine's `(in <string>:1)` (the config error has the location).
pub fn template_problem(e: &minijinja::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (in <string>") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The closest candidate to `got`, if any is close enough to be a likely typo
/// (a few edits away, transpositions counting as one).
///
/// A name that is part of a longer candidate (`happy-path` for
/// `happy-path-refund`, `lookup` for `lookup_order`) is taken first, the
/// shortest such; otherwise the candidate a few edits away.
pub fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let plain = got.trim_matches('*');
    let containing = candidates
        .iter()
        .copied()
        .filter(|c| plain.len() >= 3 && c.contains(plain) && *c != got)
        .min_by_key(|c| c.len());
    let budget = (got.chars().count() / 3).max(1);
    containing.or_else(|| {
        candidates
            .iter()
            .map(|c| (strsim::damerau_levenshtein(got, c), *c))
            .filter(|(distance, _)| *distance <= budget)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, c)| c)
    })
}

pub fn parse_yaml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| yaml_error(file, text, &e))
}

pub fn load_yaml_file<T: DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::new(file, format!("cannot read file: {e}"))
            .with_hint("check the path; config paths are relative to the project directory")
    })?;
    parse_yaml(file, &text)
}

fn yaml_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> ConfigError {
    let inner = e.without_snippet();
    let (message, hint) = match inner {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let hint = match did_you_mean(field, expected.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("valid keys here: {}", expected.join(", ")),
            };
            (format!("unknown key `{field}`"), Some(hint))
        }
        serde_saphyr::Error::SerdeMissingField { field, .. } => (
            format!("missing required key `{field}`"),
            Some(format!("add `{field}:` to this mapping")),
        ),
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => (
            match key {
                Some(k) => format!("`{k}` is given twice in this mapping"),
                None => "a key is given twice in this mapping".to_string(),
            },
            Some("keep one of them".to_string()),
        ),
        serde_saphyr::Error::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            format!("`{variant}` is not one of: {}", expected.join(", ")),
            did_you_mean(variant, expected.iter().copied())
                .map(|best| format!("did you mean `{best}`?")),
        ),
        serde_saphyr::Error::NullIntoString { .. } => (
            "a text value is missing here (an empty value reads as null)".to_string(),
            Some("write the value after the colon; quote it if it starts with a special character".into()),
        ),
        serde_saphyr::Error::InvalidBooleanStrict { .. } => (
            "expected true or false".to_string(),
            None,
        ),
        serde_saphyr::Error::Budget { .. } => (
            "the file expands to too many YAML nodes (through anchors and aliases); refusing to read it"
                .to_string(),
            Some("write the values out instead of nesting aliases".into()),
        ),
        other => {
            let message = in_user_terms(&first_line(&other.to_string()));
            // A value error names the key it is under, when one is in sight.
            let key = e
                .location()
                .and_then(|l| key_before(text, l.line(), l.column()));
            match key {
                Some(key) => (format!("`{key}`: {message}"), None),
                None => (message, None),
            }
        }
    };
    let mut err = ConfigError::new(file, message);
    err.hint = hint;
    if let Some(loc) = e.location() {
        err = err.at(loc.line(), loc.column());
    }
    err
}

/// The YAML library's type names rewritten for someone editing a config
/// file (`expected struct EndConditions` → `expected a mapping`).
fn in_user_terms(message: &str) -> String {
    let mut out = message.to_string();
    for (from, to) in [
        ("expected struct ", "expected a mapping"),
        ("expected a map", "expected a mapping"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected a list"),
        ("invalid floating point", "expected a number"),
        ("invalid integer", "expected a whole number"),
        ("invalid boolean", "expected true or false"),
        (
            "unexpected EOF while parsing an implicit flow mapping",
            "an inline `{ … }` mapping is not closed",
        ),
        (
            "unexpected EOF while parsing a flow sequence",
            "an inline `[ … ]` list is not closed",
        ),
    ] {
        if let Some(at) = out.find(from) {
            let rest = &out[at + from.len()..];
            // A Rust type name after `struct ` means nothing to the reader.
            let rest = if from.ends_with("struct ") {
                rest.trim_start_matches(|c: char| c.is_alphanumeric())
            } else {
                rest
            };
            out = format!("{}{to}{rest}", &out[..at]);
        }
    }
    // Advice meant for a programmer calling the library, not for this file.
    match out.find("; use Option<") {
        Some(at) => out[..at].to_string(),
        None => out,
    }
}

/// The nearest `key:` left of a position on its line (1-based), if any.
fn key_before(text: &str, line: u64, column: u64) -> Option<String> {
    let line = text.lines().nth(line.checked_sub(1)? as usize)?;
    let upto: String = line
        .chars()
        .take(column.saturating_sub(1) as usize)
        .collect();
    let colon = upto
        .rfind(": ")
        .or_else(|| upto.trim_end().strip_suffix(':').map(|s| s.len()))?;
    let head = &upto[..colon];
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &head[start..];
    (!key.is_empty()).then(|| key.to_string())
}

/// Our messages carry their own location; drop the library's duplicate
/// prefix and its trailing "at line L, column C".
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    match line.rfind(" at line ") {
        Some(i) if line[i..].contains(", column ") => line[..i].to_string(),
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        instructions: String,
    }

    #[test]
    fn value_errors_name_the_key_before_them_whatever_the_characters() {
        assert_eq!(key_before("a: { b: x }", 1, 9).as_deref(), Some("b"));
        assert_eq!(
            key_before("☎think_ms: soon", 1, 12).as_deref(),
            Some("think_ms")
        );
        assert_eq!(key_before("“quoted”: x", 1, 11).as_deref(), None);
        assert_eq!(key_before("no colon here", 1, 5), None);
        assert_eq!(key_before("x", 9, 1), None);
    }

    #[test]
    fn unknown_key_names_line_column_and_suggestion() {
        let text = "name: a\ninstructons: hi\n";
        let err = parse_yaml::<Sample>(Path::new("agents/a.yaml"), text).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.column, Some(1));
        assert!(err.message.contains("instructons"), "{err}");
        assert_eq!(err.hint.as_deref(), Some("did you mean `instructions`?"));
        assert!(
            err.to_string()
                .starts_with("agents/a.yaml:2:1: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn suggestions_cover_transpositions_and_skip_unrelated_words() {
        assert_eq!(did_you_mean("sya", ["id", "say", "reprompt"]), Some("say"));
        assert_eq!(
            did_you_mean("transitons", ["transitions", "say"]),
            Some("transitions")
        );
        assert_eq!(did_you_mean("colour", ["id", "say"]), None);
    }

    #[test]
    fn wrong_type_has_location() {
        let text = "name: a\ninstructions: [1, 2]\n";
        let err = parse_yaml::<Sample>(Path::new("x.yaml"), text).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
    }

    #[test]
    fn missing_key_is_named() {
        let err = parse_yaml::<Sample>(Path::new("x.yaml"), "name: a\n").unwrap_err();
        assert!(err.message.contains("instructions"), "{err}");
    }
}
