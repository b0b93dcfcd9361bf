//! Text as callers and agents speak it: phrases normalised for matching
//! (case, punctuation and spacing ignored, whole words only), the share
//! of a line that was heard before an interruption, and the JSON object in
//! a model's reply.

/// Lower-case, punctuation turned to spaces, single-spaced, padded with spaces
/// so phrases match on word boundaries.
pub fn normalise(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    format!(
        " {} ",
        cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

pub fn contains_phrase(normalised_text: &str, phrase: &str) -> bool {
    normalised_text.contains(&normalise(phrase))
}

/// The first `fraction` of `text`, cut at a word boundary.
pub fn spoken_prefix(text: &str, fraction: f64) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let total: usize = words.iter().map(|w| w.len() + 1).sum();
    let budget = (total as f64 * fraction.clamp(0.0, 1.0)).round() as usize;
    let mut used = 0;
    let mut kept = Vec::new();
    for w in words {
        used += w.len() + 1;
        if used > budget {
            break;
        }
        kept.push(w);
    }
    kept.join(" ")
}

/// The first JSON object in a reply that may wrap it in prose or fences.
pub fn first_json_object(text: &str) -> Option<serde_json::Value> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) {
        return v.is_object().then_some(v);
    }
    let start = text.find('{')?;
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return serde_json::from_str(&text[start..start + i + 1]).ok();
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_prefix_cuts_at_words() {
        assert_eq!(spoken_prefix("one two three four", 0.5), "one two");
        assert_eq!(
            spoken_prefix("one two three four", 1.0),
            "one two three four"
        );
        assert_eq!(spoken_prefix("one two", 0.0), "");
    }
}
