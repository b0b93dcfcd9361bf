//! The words of one agent response as they stream in, and which guardrail
//! checks fall due: every `debounce_chars` new characters, as the Agents SDK
//! runs them, and once more on the complete response.

/// A check that fell due: a guardrail and the text it is to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// Which guardrail (its index in the set).
    pub guard: usize,
    /// The response's words so far.
    pub text: String,
    /// Characters of `text`.
    pub chars: usize,
    /// Characters this guardrail had already read (its last check).
    pub read_before: usize,
    /// The response is complete.
    pub complete: bool,
}

/// One response's transcript and, per guardrail, how much it has read.
#[derive(Debug, Clone)]
pub struct ResponseWatch {
    text: String,
    chars: usize,
    /// Per guardrail: its debounce (0: complete responses only) and the
    /// characters it had read at its last check.
    guards: Vec<(u32, usize)>,
    /// A guardrail tripped: nothing more is checked.
    stopped: bool,
}

impl ResponseWatch {
    /// A watch for guardrails with these debounces.
    pub fn new(debounces: impl IntoIterator<Item = u32>) -> ResponseWatch {
        ResponseWatch {
            text: String::new(),
            chars: 0,
            guards: debounces.into_iter().map(|d| (d, 0)).collect(),
            stopped: false,
        }
    }

    /// The words so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Adds a transcript delta; returns the checks it makes due.
    pub fn push(&mut self, delta: &str) -> Vec<Due> {
        self.text.push_str(delta);
        self.chars += delta.chars().count();
        if self.stopped {
            return Vec::new();
        }
        let chars = self.chars;
        let due: Vec<usize> = self
            .guards
            .iter()
            .enumerate()
            .filter(|(_, (debounce, read))| *debounce > 0 && chars - read >= *debounce as usize)
            .map(|(i, _)| i)
            .collect();
        due.into_iter().map(|i| self.take(i, false)).collect()
    }

    /// The response is complete: a last check for every guardrail that has
    /// not read all of it.
    pub fn finish(&mut self) -> Vec<Due> {
        if self.stopped {
            return Vec::new();
        }
        let chars = self.chars;
        let due: Vec<usize> = (0..self.guards.len())
            .filter(|&i| self.guards[i].1 < chars)
            .collect();
        due.into_iter().map(|i| self.take(i, true)).collect()
    }

    /// A guardrail tripped on this response: no more checks.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    fn take(&mut self, guard: usize, complete: bool) -> Due {
        let read_before = std::mem::replace(&mut self.guards[guard].1, self.chars);
        Due {
            guard,
            text: self.text.clone(),
            chars: self.chars,
            read_before,
            complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(watch: &mut ResponseWatch, words: &[&str]) -> Vec<(usize, usize)> {
        words
            .iter()
            .flat_map(|w| watch.push(w))
            .map(|d| (d.guard, d.chars))
            .collect()
    }

    #[test]
    fn checks_fall_due_every_debounce_characters_and_at_the_end() {
        let mut watch = ResponseWatch::new([10, 0]);
        let checks = fed(
            &mut watch,
            &["Hello ", "there, ", "I can ", "help ", "you."],
        );
        // 6, 13 (due: 13 >= 10), 19, 24 (24 - 13 >= 10), 28.
        assert_eq!(checks, vec![(0, 13), (0, 24)]);
        let last: Vec<(usize, usize, bool)> = watch
            .finish()
            .into_iter()
            .map(|d| (d.guard, d.read_before, d.complete))
            .collect();
        assert_eq!(last, vec![(0, 24, true), (1, 0, true)]);
        assert!(watch.finish().is_empty(), "nothing new to read");
    }

    #[test]
    fn a_tripped_response_is_not_checked_again() {
        let mut watch = ResponseWatch::new([5]);
        assert_eq!(watch.push("refund it").len(), 1);
        watch.stop();
        assert!(watch.push(" all anyway").is_empty());
        assert!(watch.finish().is_empty());
        assert_eq!(watch.text(), "refund it all anyway");
    }
}
