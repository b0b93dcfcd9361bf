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
}

/// The closest candidate to `got`, if any is close enough to be a likely typo
/// (a few edits away, transpositions counting as one).
pub fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let budget = (got.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(got, c), c))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

pub fn parse_yaml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| yaml_error(file, &e))
}

pub fn load_yaml_file<T: DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        ConfigError::new(file, format!("cannot read file: {e}"))
            .with_hint("check the path; config paths are relative to the project directory")
    })?;
    parse_yaml(file, &text)
}

fn yaml_error(file: &Path, e: &serde_saphyr::Error) -> ConfigError {
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
        other => (first_line(&other.to_string()), None),
    };
    let mut err = ConfigError::new(file, message);
    err.hint = hint;
    if let Some(loc) = e.location() {
        err = err.at(loc.line(), loc.column());
    }
    err
}

/// Our messages carry their own location; drop the library's duplicate prefix.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
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
